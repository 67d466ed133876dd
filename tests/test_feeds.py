"""Feed files: validated at start-up, secrets from the environment, credentials never logged."""

from __future__ import annotations

from pathlib import Path

from monitor.feeds import load_feeds, redact


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)


def test_every_problem_of_every_feed_file_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    write(folder, "a.yaml", "name: a\nadapter: acledd\nsource: x.csv\n")
    write(folder, "b.yaml", "name: b\nadapter: ucdp\nsource: x.csv\nschedule: {every: 5}\n")
    write(folder, "c.yaml", "name: c\nadapter: ucdp\nsource: x.csv\noptions: {batchsize: 5}\n")
    write(folder, "d.yaml", "name: f\nadapter: jsonl\nsource: drop\n")
    write(folder, "f.yaml", "name: f\nadapter: jsonl\nsource: drop2\n")
    write(folder, "e.yaml", "name: e\nadapter: jsonl\nsource: [unclosed\n")
    specs, problems = load_feeds(folder, "feeds")
    text = "\n".join(map(str, problems))
    assert "adapter 'acledd' is unknown. Did you mean 'acled'?" in text
    assert "feeds/b.yaml: schedule.every: is not a known field" in text
    assert "feeds/c.yaml: options:" in text and "batch_size" in text
    assert "feeds/f.yaml: name: 'f' is also the name of feeds/d.yaml" in text
    assert "feeds/e.yaml: line 4, column 1: is not valid YAML" in text
    assert "Value error" not in text
    assert len(problems) == 5 and [s.name for s in specs] == ["f", "f"]


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    write(folder, "acled.yaml", "name: acled\nadapter: acled\n"
          "source: https://api.acleddata.com/acled/read\n"
          "options: {key: '${ACLED_KEY}', email: '${ACLED_EMAIL}'}\n")
    specs, problems = load_feeds(folder, "feeds", env={"ACLED_KEY": "s3cret"})
    assert [str(p) for p in problems] == [
        "feeds/acled.yaml: options.email: environment variable ACLED_EMAIL is not set "
        "Export ACLED_EMAIL before starting."]
    specs, problems = load_feeds(folder, "feeds", env={"ACLED_KEY": "s3cret",
                                                       "ACLED_EMAIL": "a@b.org"})
    assert not problems and specs[0].options["key"] == "s3cret"


def test_credentials_in_urls_are_redacted() -> None:
    assert redact("GET https://x/read?key=abc&email=a@b&token=t1: HTTP 500") == \
        "GET https://x/read?key=***&email=a@b&token=***: HTTP 500"
