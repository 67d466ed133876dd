"""JSON Lines: one incident report (the IncidentReport fields) per line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..service import Rejection


def read_file(path: Path, feed: str = "jsonl") -> Iterator[tuple[str, dict[str, Any]] | Rejection]:
    """Yield ``(where, record)`` per non-blank line; a line that is not a JSON object is a
    Rejection. Records without a ``feed`` get ``feed``."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            where = f"{path.name} line {number}"
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield Rejection(where, f"not UTF-8 ({exc.reason} at byte {exc.start}); "
                                "save the file as UTF-8")
                continue
            except json.JSONDecodeError as exc:
                yield Rejection(where, f"not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(record, dict):
                yield Rejection(where, "each line must be a JSON object (an incident report)")
                continue
            record.setdefault("feed", feed)
            yield where, record
