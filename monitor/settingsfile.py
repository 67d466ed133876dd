"""The model of ``config/monitor.yaml`` (:mod:`monitor.settings` reads the file, and imports this
module, and so pydantic, only when what it holds has not been validated before)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .filemodel import FileModel
from .webhooks import WebhookSpec


class BriefsSpec(FileModel):
    """The daemon's daily brief (``monitor report --daily`` on a schedule)."""

    output_dir: str = Field(default="var/briefs", description="where the briefs are written")
    format: Literal["html", "md"] = "html"
    cutoff: str = Field(default="19:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                        description="the daily cut-off, local time of the pack")


class Settings(FileModel):
    """``config/monitor.yaml``."""

    pack: str = Field(description="the agreement pack in force: a folder of config/")
    db: str = Field(default="var/ledger.db", description="the ledger file")
    checkpoints: str | None = Field(
        default="checkpoints.txt",
        description="where the daemon writes the ledger's head after every run, outside the "
                    "ledger file: relative to the ledger's folder, or absolute (another disk "
                    "is better); null: nowhere")
    feeds: str = Field(default="feeds", description="folder of feed definitions")
    webhooks: list[WebhookSpec] = Field(default_factory=list,
                                        description="where alerts are POSTed")
    briefs: BriefsSpec | None = Field(default=None, description="daily briefs by the daemon")
    day_cutoff: str = Field(
        default="19:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="the daily cut-off, local time of the pack: every day, period and count "
                    "(briefs, findings --since/--until, Datasette) runs from cut-off to cut-off")
