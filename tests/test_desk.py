"""The analyst's desk: output that survives pipes and narrow terminals, filters that say when
they cannot match."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "feeds" / "samples" / "acled_syria_2016_sample.csv"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("desk") / "ledger.db"
    result = run(path, "import", str(SAMPLE), "--format", "acled")
    assert "new report(s)" in result.output
    return path


def run(db, *args: str):
    return CliRunner().invoke(main, ["--config", str(PROJECT_ROOT / "config"), "--db", str(db),
                                     *args])


def test_a_table_in_a_pipe_is_one_line_a_row_with_whole_ids(db) -> None:
    out = run(db, "findings")
    lines = out.output.splitlines()
    assert lines[0].split("\t")[:3] == ["finding_id", "occurred", "term"]
    rows = [line.split("\t") for line in lines[1:]]
    assert rows and all(len(r) == len(lines[0].split("\t")) for r in rows)
    assert all(r[0].startswith("f-") and len(r[0]) == 18 for r in rows)  # whole ids
    occurred = [r[1] for r in rows]
    assert occurred == sorted(occurred, reverse=True)  # newest first
    grepped = [line for line in lines if "\tMAY-CIV\t" in line]
    assert grepped and all(line.startswith("f-") for line in grepped)


def test_a_terminal_table_fits_its_width_and_says_how_many_more(db, monkeypatch) -> None:
    from rich.console import Console

    from monitor.cli import common

    def narrow(self):  # an 80-column terminal
        if self._console is None:
            self._console = Console(force_terminal=True, width=80, color_system=None)
        return self._console
    monkeypatch.setattr(common.Context, "console", property(narrow))
    monkeypatch.setattr("monitor.cli.findings.TERMINAL_LIMIT", 3)
    out = run(db, "findings")
    lines = out.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    ids = [line for line in lines if "f-" in line]
    assert len(ids) == 3 and all(len(line.split("f-")[1].split()[0]) == 16 for line in ids)
    assert "more: --limit 0 shows them all" in out.output


@pytest.mark.parametrize("args, message", [
    (["--term", "COH-FOO"], "'COH-FOO' is not a term of pack syria-2016. Did you mean 'COH-OPP'?"),
    (["--party", "syria"], "Did you mean 'syrian_government'?"),
    (["--party", "russia or syra"], "'syra' is not a side"),
    (["--instrument", "CHO"], "'CHO' is not an instrument"),
    (["--status", "disputd"], "Did you mean 'disputed'?"),
    (["--since", "2016-09-20", "--until", "2016-09-10"], "is not after --since"),
], ids=["term", "party", "party-set", "instrument", "status", "reversed-period"])
def test_a_filter_that_cannot_match_is_an_error(db, args, message) -> None:
    out = run(db, "findings", *args)
    assert out.exit_code == 2 and message in " ".join(out.output.split())


def test_filters_are_case_insensitive_and_repeatable(db) -> None:
    def ids(*args: str) -> set[str]:
        out = run(db, "findings", "--limit", "0", *args)
        assert out.exit_code == 0, out.output
        return {line.split("\t")[0] for line in out.output.splitlines()[1:]}
    may, saaf = ids("--term", "MAY-CIV"), ids("--term", "JIG-SAAF")
    assert may and saaf
    assert ids("--term", "may-civ") == may
    assert ids("--term", "MAY-CIV", "--term", "jig-saaf") == may | saaf
    assert ids("--party", "Syrian_Government") == ids("--party", "syrian_government")
