"""Filters checked against the pack: a term, party, status or instrument that cannot match
is an error with a did-you-mean, never an empty list that looks like "no violations"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import click

from ..problems import did_you_mean
from ..settings import PackNames
from ..vocabulary import STATUSES, UNDETERMINED

UNATTRIBUTED = "unattributed"


def _fail(option: str, value: str, known: Iterable[str], what: str,
          pack: PackNames) -> click.BadParameter:
    hint = did_you_mean(value, known)
    return click.BadParameter(f"{value!r} is not {what} of pack {pack.name}. {hint}".strip(),
                              param_hint=option)


def _known(option: str, values: Sequence[str], known: Sequence[str], what: str,
           pack: PackNames) -> list[str]:
    """``values`` upper-cased, each one of ``known`` (ids of the pack, written in capitals)."""
    out = []
    for value in values:
        ident = value.strip().upper()
        if ident not in known:
            raise _fail(option, value, known, what, pack)
        out.append(ident)
    return out


def terms(values: Sequence[str], pack: PackNames) -> list[str]:
    """``--term`` values, case-insensitive, each a term of the pack's rules."""
    return _known("--term", values, list(pack.terms), "a term", pack)


def parties(values: Sequence[str], pack: PackNames) -> list[str]:
    """``--party`` values, case-insensitive: a side, a charged set of sides ("russia or
    syrian_government", in any order), "undetermined" or "unattributed"; as the ledger writes
    charged sets (sorted)."""
    sides = list(pack.sides)
    out = []
    for value in values:
        text = " ".join(value.strip().lower().split())
        if text in (UNDETERMINED, UNATTRIBUTED):
            out.append(text)
            continue
        joiner = " and " if " and " in text else " or "
        members = [m.strip() for m in text.split(joiner)]
        for member in members:
            if member not in sides:
                raise _fail("--party", member, [*sides, UNDETERMINED, UNATTRIBUTED], "a side",
                            pack)
        out.append(joiner.join(sorted(set(members))))
    return out


def instruments(values: Sequence[str], pack: PackNames) -> list[str]:
    """``--instrument`` values, case-insensitive, each an instrument of the pack."""
    return _known("--instrument", values, list(pack.instruments), "an instrument", pack)


def statuses(values: Sequence[str]) -> list[str]:
    out = []
    for value in values:
        status = value.strip().lower()
        if status not in STATUSES:
            raise click.BadParameter(f"{value!r} is not a status. {did_you_mean(value, STATUSES)}",
                                     param_hint="--status")
        out.append(status)
    return out


def period(since: dt.date | None, until: dt.date | None) -> None:
    """A period that ends before it starts matches nothing: an error, not an empty list."""
    if since is not None and until is not None and until <= since:
        raise click.BadParameter(f"{until} is not after --since {since}", param_hint="--until")
