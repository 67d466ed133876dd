"""The base of every model read from a configuration or rule file, in a module of its own so
that reading ``monitor.yaml`` (:mod:`.settings`) builds no other model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FileModel(BaseModel):
    """Base of every model read from a configuration or rule file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
