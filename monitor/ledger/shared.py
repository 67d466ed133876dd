"""Texts said again, stored once: which of a batch's resolution notes and explanations become
entries of the chained table ``shared_texts``, which the rows then name by seq
(:mod:`.compact`, "Said again").

A text is shared when it is an entry already, or is said twice in the batch (then it becomes
one). Sharing a text said once would cost more (an entry's seq, time and hashes) than it saves;
most notes are said of thousands of incidents ("platform=unknown ...", an actor's alias), and
most explanations of many findings, a few of one (a zone note names the point). What is stored
depends only on the ledger and the batch, never on what the process saw before: a run resumed
after a crash stores what a run that never crashed stores. The entries are cached in memory (at
most :data:`REMEMBERED`, so a daemon's memory does not grow with its ledger); one not cached is
found in the file, through the index of its digest (:func:`digest`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .chain import Chain

REMEMBERED = 50_000  # shared_texts entries cached in memory


def digest(text: str) -> str:
    """What ``shared_texts`` finds a text by: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class SharedTexts(Chain):
    """:meth:`share_texts`: the entries of ``shared_texts`` a batch's texts refer to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared: dict[str, int] = {}  # committed entries: text -> seq
        self._pending: dict[str, int] = {}  # entries of the open transaction

    def share_texts(self, texts: Iterable[str]) -> dict[str, int]:
        """Inside a transaction: for the texts of a batch (every note of every resolution and
        every explanation, as often as said), the shared ones, text -> seq of their
        ``shared_texts`` entry; the entries missing are appended now (before the rows that
        refer to them)."""
        t = self._writable("shared_texts")
        counts = Counter(texts)
        known = self._shared | self._pending
        found = {n: known[n] for n in counts if n in known}
        missing = {n: digest(n) for n in counts if n not in found}  # entries already?
        for text, seq in self._where_in(f"SELECT text, min(seq) FROM {t.name} WHERE digest "
                                        "IN ({marks}) GROUP BY text", missing.values()):
            if text in missing:  # not another text of the same digest
                found[text] = seq
                self._remember(text, seq)  # committed by another transaction
        new = [n for n in missing if n not in found and counts[n] > 1]
        if new:
            first = self._head[0] + 1
            self.append_many("shared_texts", ({"text": n, "digest": missing[n]} for n in new))
            for seq, text in enumerate(new, first):
                found[text] = self._pending[text] = seq
        return found

    def _remember(self, text: str, seq: int) -> None:
        if len(self._shared) >= REMEMBERED:
            self._shared.clear()
        self._shared[text] = seq

    def _committed(self) -> None:
        for text, seq in self._pending.items():
            self._remember(text, seq)
        self._pending.clear()
        super()._committed()

    def _rolled_back(self, head: int) -> None:
        # the entries after ``head`` are gone with the rows that referred to them
        self._pending = {t: s for t, s in self._pending.items() if s <= head}
        super()._rolled_back(head)
