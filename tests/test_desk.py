"""The analyst's desk: output that survives pipes and narrow terminals, filters that say when
they cannot match."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.cli.findings import FINDING_COLUMNS, FINDING_DROP
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
    tsv = [line.split("\t") for line in run(db, "findings", "--limit", "3").output.splitlines()]
    parties = [row[tsv[0].index("charged_to")] for row in tsv[1:]]
    terminal(monkeypatch, 3)  # an 80-column terminal
    out = run(db, "findings")
    lines = out.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    ids = [line for line in lines if "f-" in line]
    assert len(ids) == 3 and all(len(line.split("f-")[1].split()[0]) == 16 for line in ids)
    # the newest three are read, and the others counted, not read: the title and the line
    # under the table say how many there are
    total = len(json.loads(run(db, "findings", "--format", "json").output))
    assert f"{total} finding(s), newest first" in out.output and total > 3
    assert f"… {total - 3} more: --limit 0 shows them all" in out.output
    # the columns left out to fit are named under the table, not silently missing
    shown = lines[[i for i, line in enumerate(lines) if "finding_id" in line][0]]
    hidden = [c for c in FINDING_DROP if c not in shown]
    caption = " ".join(out.output.split())
    assert hidden and f"not shown at 80 columns: {', '.join(hidden)}" in caption, out.output
    assert "status" in shown and "severity" in hidden  # whether it stands, before how grave
    # no word is broken over two lines: every party charged is in the table whole
    # ("syrian_government" was "syrian_go" / "vernment" in 80 columns)
    words = [w.strip(",;") for p in parties for w in p.split()]
    assert words and all(w in out.output for w in words), (words, out.output)


def test_a_finding_charged_to_nobody_reads_as_the_party_filter_names_it(db) -> None:
    """A clash charged to nobody shows ``undetermined`` in the table (not an empty cell): the
    very findings ``--party undetermined`` lists; the exports keep the empty list."""
    lines = [line.split("\t") for line in run(db, "findings").output.splitlines()]
    at = lines[0].index("charged_to")
    shown = {row[0] for row in lines[1:] if row[at] == "undetermined"}
    filtered = run(db, "findings", "--party", "undetermined").output.splitlines()[1:]
    assert shown and shown == {line.split("\t")[0] for line in filtered}
    assert all(row[at] for row in lines[1:])  # no empty cell
    exported = json.loads(run(db, "findings", "--format", "json").output)
    assert {f["finding_id"] for f in exported if f["charged_to"] == []} == shown


def test_a_narrow_table_keeps_whether_a_finding_stands_before_its_outer_rules() -> None:
    """80 columns and the widest statuses: the status stays (a superseded finding must not read
    as a current one); the outer rules go before any column does; a wide terminal keeps them."""
    import io

    from rich.console import Console

    from monitor.output import render

    rows = [{"finding_id": f"f-{k:016x}", "occurred": "2016-09-19", "term": "JIG-SAAF",
             "charged_to": "syrian_government", "severity": "critical", "confidence": "medium",
             "status": status, "source": f"ucdp:30121{k}"}
            for k, status in enumerate(("superseded", "corroborated", "retracted"))]

    def table(width: int) -> list[str]:
        out = io.StringIO()
        render(rows, "table", FINDING_COLUMNS, console=Console(
            file=out, force_terminal=True, width=width, color_system=None), drop=FINDING_DROP)
        return out.getvalue().splitlines()

    narrow = table(80)
    assert max(map(len, narrow)) <= 80
    for row in rows:
        line = next(x for x in narrow if row["finding_id"] in x)
        assert line.strip("│ ").split("│")[-1].strip() == row["status"], narrow  # whole
    # no outer rules: they made room for the status (with them, the last column is cut off)
    assert narrow[0].startswith("finding_id") and narrow[0].rstrip().endswith("status")
    assert "not shown at 80 columns: source, confidence, severity" in " ".join(narrow)
    wide = table(140)
    assert wide[0].startswith("┏") and wide[0].endswith("┓")
    assert "not shown" not in " ".join(wide)
    assert all(c in wide[1] for c in FINDING_COLUMNS)


def test_a_column_left_out_comes_back_when_it_fits_after_a_wider_one_went() -> None:
    """Left out in order while the table does not fit: "small" first, then "wide"; with
    "wide" out, "small" fits again and is shown, in its place, and only "wide" is named."""
    import io

    from rich.console import Console

    from monitor.output import render

    rows = [{"finding_id": "f-0123456789abcdef", "small": "ok", "wide": "w" * 24, "end": "x"}]
    out = io.StringIO()
    render(rows, "table", None, console=Console(file=out, force_terminal=True, width=40,
                                                color_system=None), drop=("small", "wide"))
    lines = out.getvalue().splitlines()
    assert max(map(len, lines)) <= 40
    header = next(line for line in lines if "finding_id" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == ["finding_id", "small", "end"]
    assert "not shown at 40 columns: wide (" in " ".join(" ".join(lines).split())


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


def test_report_infers_markdown_from_the_output_name(db, tmp_path) -> None:
    out = run(db, "report", "--since", "2016-08-01", "--until", "2016-08-20", "--output",
              str(tmp_path / "brief.md"))
    assert out.exit_code == 0
    text = (tmp_path / "brief.md").read_text()
    assert text.startswith("# Ceasefire compliance brief") and "<html" not in text


def test_zones_as_json_carry_their_provenance(db) -> None:
    import json

    data = json.loads(run(db, "zones", "--format", "json").output)
    assert data["provenance"].startswith("APPROXIMATE DELINEATION") and len(data["zones"]) > 20


def test_findings_exports_carry_the_place_and_plain_sides(db) -> None:
    import csv
    import io
    import json

    rows = list(csv.DictReader(io.StringIO(run(db, "findings", "--format", "csv").output)))
    assert rows and {"latitude", "longitude", "place"} <= set(rows[0])
    assert all(not r["charged_to"].startswith("[") for r in rows)
    assert any("; " in r["charged_to"] for r in rows) or all(r["charged_to"] for r in rows)
    first = json.loads(run(db, "findings", "--format", "json").output)[0]
    assert isinstance(first["latitude"], float) and first["place"]


def test_finding_show_takes_the_start_of_an_id(db) -> None:
    first = run(db, "findings").output.splitlines()[1].split("\t")[0]
    shown = run(db, "finding", "show", first[:8])
    assert shown.exit_code == 0 and shown.output.startswith(first)
    several = run(db, "finding", "show", "f-")
    assert several.exit_code == 1 and "several findings" in several.output


def test_finding_show_reads_the_ledger_alone(db, monkeypatch) -> None:
    """Showing a finding loads no pack and opens the ledger read-only (a writer's check of a
    year's file took 0.6 s, the pack another 0.6)."""
    from monitor import config
    from monitor.ledger import Ledger

    def no_pack(*args, **kwargs):
        raise AssertionError("finding show loaded the pack")
    monkeypatch.setattr(config, "load_pack", no_pack)
    opened: list[bool] = []
    real = Ledger.open.__func__
    monkeypatch.setattr(Ledger, "open", classmethod(
        lambda cls, *args, **kwargs: opened.append(kwargs.get("readonly", False)) or real(
            cls, *args, **kwargs)))
    first = run(db, "findings").output.splitlines()[1].split("\t")[0]
    shown = run(db, "finding", "show", first)
    assert shown.exit_code == 0 and "Explanation" in shown.output and "Sources" in shown.output
    assert opened == [True, True]  # the listing and the story, both read-only


def test_import_reads_ucdp_files_and_grades_their_source(tmp_path) -> None:
    ged = PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv"
    part = tmp_path / "ged.csv"
    part.write_text("".join(ged.open(encoding="utf-8-sig").readlines()[:60]))
    out = run(tmp_path / "l.db", "import", str(part), "--format", "ucdp", "--reliability", "C")
    assert out.exit_code == 0 and "59 new report(s)" in out.output
    grades = run(tmp_path / "l.db", "query",
                 "SELECT DISTINCT json_extract(body, '$.reliability') FROM reports").output
    assert grades.splitlines()[1:] == ["C"]
    acled = run(tmp_path / "a.db", "import", str(SAMPLE), "--format", "acled")
    assert acled.exit_code in (0, 1)
    graded = run(tmp_path / "a.db", "query",
                 "SELECT DISTINCT json_extract(body, '$.reliability') FROM reports").output
    assert graded.splitlines()[1:] == ["B"]  # an ACLED file is not an analyst's own entry


def test_calm_and_alerts_read_in_local_words(db) -> None:
    calm = run(db, "calm").output.splitlines()
    assert calm[0].split("\t")[3] == "calm" and all(
        line.split("\t")[3] in ("yes", "no") for line in calm[1:])
    reversed_ = run(db, "alerts", "--since", "2016-09-20", "--until", "2016-09-01")
    assert reversed_.exit_code == 2 and "is not after --since" in reversed_.output
    assert run(db, "alerts", "--since", "2016-01-01", "--until", "2017-01-01").exit_code == 0


def test_a_hand_entry_needs_more_than_a_date(tmp_path) -> None:
    out = run(tmp_path / "l.db", "incident", "add", "--occurred", "2016-09-10")
    assert out.exit_code == 2 and "a date alone says nothing a term can judge" in out.output


def test_a_ledger_in_a_new_folder_is_said_to_be_created(tmp_path) -> None:
    out = run(tmp_path / "new" / "l.db", "incident", "add", "--occurred", "2016-09-10",
              "--attacker", "Syrian air force", "--target", "civilians")
    assert out.exit_code == 0 and "did not exist; created it for the ledger" in out.output


def test_the_prompts_offer_real_choices_only(tmp_path) -> None:
    answers = "\n".join(["2016-09-10", "36.2", "37.1", "", "Atareb", "Syrian air force",
                         "civilians", "", "", "", "warplanes hit a market"]) + "\n"
    out = CliRunner().invoke(main, ["--config", str(PROJECT_ROOT / "config"), "--db",
                                    str(tmp_path / "l.db"), "incident", "add", "--prompt"],
                             input=answers)
    assert out.exit_code == 0, out.output
    assert "Event type (Enter: not known) (air_strike, " in out.output
    assert "(, " not in out.output and "[, " not in out.output


def test_a_caught_up_file_feed_has_no_lag(pack, tmp_path) -> None:
    from monitor.daemon import Daemon
    from monitor.feeds import FeedSpec, status
    from monitor.ledger import Ledger
    from monitor.service import Monitor

    (tmp_path / "p.jsonl").write_text('{"source_id": "p1", "occurred": "2016-09-15", '
                                      '"attacker": "Syrian air force", "target": "civilians"}\n')
    ledger = Ledger.open(tmp_path / "l.db")
    try:
        spec = FeedSpec(name="partners", adapter="jsonl", source="p.jsonl")
        Daemon(Monitor(pack, ledger), [spec], tmp_path, sleep=lambda s: False).run_once()
        [row] = status([spec], ledger)
        assert row["lag_seconds"] == 0.0
    finally:
        ledger.close()


def terminal(monkeypatch, limit: int, width: int = 80) -> None:
    """The commands' console is a terminal of ``width`` columns whose table shows ``limit``
    rows."""
    from rich.console import Console

    from monitor.cli import common

    def narrow(self):
        if self._console is None:
            self._console = Console(force_terminal=True, width=width, color_system=None,
                                    emoji=False)
        return self._console
    monkeypatch.setattr(common.Context, "console", property(narrow))
    monkeypatch.setattr("monitor.cli.options.TERMINAL_LIMIT", limit)


def test_incidents_in_a_terminal_are_the_newest_and_a_count_of_the_rest(db, monkeypatch) -> None:
    every = json.loads(run(db, "incidents", "--format", "json").output)
    assert len(every) > 3
    newest = sorted(every, key=lambda r: (r["occurred_start"], r["seq"]), reverse=True)
    # through a pipe: every row, newest first, one tab-separated line each
    lines = run(db, "incidents").output.splitlines()
    assert [line.split("\t")[0] for line in lines[1:]] == [r["incident_id"] for r in newest]
    terminal(monkeypatch, 3)
    out = run(db, "incidents").output
    assert max(len(line) for line in out.splitlines()) <= 80
    assert f"{len(every)} incident row(s), newest first" in " ".join(out.split())
    assert f"… {len(every) - 3} more: --limit 0 shows them all" in out
    shown = [r["incident_id"] for r in newest if r["incident_id"] in out]
    assert shown[:3] == [r["incident_id"] for r in newest[:3]]
    assert all(r["place"] not in out for r in newest[3:] if r["place"] and all(
        r["place"] != n["place"] for n in newest[:3]))
    assert "more:" not in run(db, "incidents", "--limit", "0").output


def test_incidents_exports_are_written_as_read_and_say_what_they_said(db) -> None:
    from monitor.ledger import Ledger
    from monitor.output import render

    ledger = Ledger.open(db, readonly=True)
    rows = ledger.incident_rows()
    ledger.close()
    # the same text as the whole list rendered at once, in recording order
    assert run(db, "incidents", "--format", "json").output == render(rows, "json") + "\n"
    assert run(db, "incidents", "--format", "jsonl").output == render(rows, "jsonl") + "\n"
    assert run(db, "incidents", "--format", "csv").output == render(rows, "csv")
    # a period is a range of event starts; --limit N is the newest N
    since = sorted(r["occurred_start"] for r in rows)[len(rows) // 2][:10]
    after = json.loads(run(db, "incidents", "--since", since, "--format", "json").output)
    assert after and all(r["occurred_start"] >= since for r in after) and len(after) < len(rows)
    two = json.loads(run(db, "incidents", "--limit", "2", "--format", "json").output)
    assert [r["seq"] for r in two] == [r["seq"] for r in sorted(
        rows, key=lambda r: (r["occurred_start"], r["seq"]), reverse=True)[:2]]
    empty = run(db, "incidents", "--since", "2030-01-01", "--format", "csv").output
    assert empty.splitlines() == [",".join(rows[0])]  # the header alone
    assert run(db, "incidents", "--since", "2030-01-01", "--format", "json").output == "[]\n"


def test_findings_limit_is_the_newest_in_every_format(db) -> None:
    every = json.loads(run(db, "findings", "--format", "json").output)
    newest = sorted(every, key=lambda f: (f["occurred"], f["seq"]), reverse=True)[:2]
    for fmt in ("json", "csv"):
        out = run(db, "findings", "--limit", "2", "--format", fmt).output
        ids = ([f["finding_id"] for f in json.loads(out)] if fmt == "json" else
               [line.split(",")[0] for line in out.splitlines()[1:]])
        assert ids == [f["finding_id"] for f in newest]


def test_findings_geojson_puts_each_finding_where_json_and_csv_do(db) -> None:
    as_json = {f["finding_id"]: f for f in json.loads(run(db, "findings", "--format",
                                                          "json").output)}
    features = json.loads(run(db, "findings", "--format", "geojson").output)["features"]
    assert len(features) == len(as_json) > 3
    for feature in features:
        f = as_json[feature["properties"]["finding_id"]]
        point = feature["geometry"]["coordinates"] if feature["geometry"] else None
        assert point == ([f["longitude"], f["latitude"]] if f["latitude"] is not None else None)
        assert feature["properties"]["place"] == f["place"]


def test_geojson_is_written_a_feature_at_a_time_as_the_whole_collection_reads(db) -> None:
    from monitor.exports import finding_features, incident_features
    from monitor.ledger import Ledger
    from monitor.output import to_json

    def collection(features: Iterable[dict]) -> str:  # the whole collection at once
        return to_json({"type": "FeatureCollection", "features": list(features)}) + "\n"

    ledger = Ledger.open(db, readonly=True)
    findings, incidents = ledger.findings(), ledger.incident_rows()
    places = ledger.incident_places(f["incident_id"] for f in findings)
    ledger.close()
    assert len(findings) > 3 and len(incidents) > 3
    assert run(db, "findings", "--format", "geojson").output == collection(
        finding_features(findings, places))
    assert run(db, "incidents", "--format", "geojson").output == collection(
        incident_features(incidents))
    empty = run(db, "incidents", "--since", "2030-01-01", "--format", "geojson").output
    assert json.loads(empty) == {"type": "FeatureCollection", "features": []}


def test_what_a_source_wrote_is_shown_as_written_never_as_markup(tmp_path, monkeypatch) -> None:
    """A report's words reach the terminal as they are: rich markup in a place name or a
    source id is not styled, linked or refused, and ":a:" in a report key is not an emoji."""
    db = tmp_path / "ledger.db"
    base = {"occurred": "2016-08-10", "attacker": "Military Forces of Syria (2000-)",
            "event_type": "air_strike", "notes": "helicopters struck the market"}
    hostile = {"a": "[east] Kafr Nabl", "[/x]": "[link=http://evil.example]Maarat[/link]",
               "fire": "[bold]Saraqib"}
    records = [{**base, "source_id": sid, "location": {"lat": 35.6 + i / 100, "lon": 36.56,
                                                       "place": place}}
               for i, (sid, place) in enumerate(hostile.items())]
    added = CliRunner().invoke(main, ["--config", str(PROJECT_ROOT / "config"), "--db", str(db),
                                      "incident", "add", "--json", "-"],
                               input="\n".join(json.dumps(r) for r in records))
    assert added.exit_code == 0, added.output
    assert "(manual:a:1)" in added.output and "(manual:fire:1)" in added.output
    terminal(monkeypatch, 10, width=300)  # wide enough that no cell is folded
    shown = run(db, "incidents", "--limit", "10").output
    assert all(place in shown for place in hostile.values()), shown
    assert "\x1b]8;" not in shown  # no hyperlink written
    # the findings' source ids ("[/x]" stopped the table with a markup error)
    shown = run(db, "findings").output
    assert all(f"│ manual:{sid} " in shown for sid in hostile), shown


def test_the_commands_consoles_print_a_line_as_it_is() -> None:
    """No emoji codes and no highlighting on either console the commands print with: the
    "a256:d3af" of a rule's hash is not coloured as an address, "2016-08-09" not as numbers."""
    from monitor.cli.common import Context

    context = Context(None, None)
    for console in (context.console, context.err):
        line = console.render_str("rule sha256:d3af9724 on 2016-08-09 for manual:a:1")
        assert line.plain == "rule sha256:d3af9724 on 2016-08-09 for manual:a:1"
        assert line.spans == []
