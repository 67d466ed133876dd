"""The README tells the truth: every command and config key is documented, examples run."""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.classify import evaluate, load_classifier, markdown_table
from monitor.cli import main
from monitor.config import PROJECT_ROOT, BriefsSpec, DisplaySpec, PackFiles, PackSpec, Settings
from monitor.feeds import FeedSpec, Schedule
from monitor.models import Actor, Alias, Instrument, ZoneSpec
from monitor.patternspec import CalmSpec, EscalationSpec, SequenceSpec, Step
from monitor.webhooks import WebhookSpec
from monitor.zones import SplitPlace

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "monitor") -> list[str]:
    out = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out += commands(cmd, path)
        else:
            out.append(path)
    return out


@pytest.mark.parametrize("command", commands(main))
def test_every_command_is_in_the_readme_with_help_and_an_example(command: str) -> None:
    assert f"`{command}" in README, f"README does not document `{command}`"
    result = CliRunner().invoke(main, [*command.split()[1:], "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output, f"`{command} --help` has no example"


MODELS = [Settings, BriefsSpec, WebhookSpec, PackSpec, PackFiles, DisplaySpec, CalmSpec,
          EscalationSpec, SequenceSpec, Step, FeedSpec, Schedule, Instrument, Actor, Alias,
          ZoneSpec, SplitPlace]


@pytest.mark.parametrize(("model", "key"), [(m, k) for m in MODELS for k in m.model_fields],
                         ids=[f"{m.__name__}.{k}" for m in MODELS for k in m.model_fields])
def test_every_config_key_is_in_the_readme(model, key) -> None:
    assert f"`{key}`" in README, f"README does not document {model.__name__}.{key}"


def test_the_classifier_tables_in_the_readme_are_measured_now() -> None:
    classifier, problems = load_classifier(PROJECT_ROOT / "config/syria-2016/classifier.yaml")
    assert not problems and classifier is not None
    with (PROJECT_ROOT / "tests/fixtures/ucdp_labelled_200.csv").open(encoding="utf-8") as fh:
        report = evaluate(classifier, list(csv.DictReader(fh)))
    block = README.split("<!-- classifier-tables -->")[1].split("<!-- /classifier-tables -->")[0]
    assert markdown_table(report["platform"], "platform") in block
    assert markdown_table(report["target_category"], "target_category") in block


def readme_examples() -> list[list[str]]:
    """The `monitor ...` lines of the README's "Using it" block (the daemon left out)."""
    block = README.split("## Using it")[1].split("```sh")[1].split("```")[0]
    block = block.replace("\\\n", " ")
    out = []
    for line in block.splitlines():
        line = line.split("#")[0].strip()
        if not line.startswith("monitor ") or line.startswith(("monitor run",)):
            continue
        if "--json report.json" in line or "FINDING_ID" in line:
            continue  # placeholders a reader fills in
        out.append(shlex.split(line)[1:])
    return out


def test_the_readme_examples_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    db = str(tmp_path / "ledger.db")
    examples = readme_examples()
    assert len(examples) >= 10
    for args in examples:
        result = CliRunner().invoke(main, ["--db", db, *args], catch_exceptions=False)
        assert result.exit_code == 0, f"monitor {' '.join(args)}:\n{result.output}"


def test_the_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block and README.index("```sh") < 200
    assert "make run" in first_block.group(1) and "make test" in first_block.group(1)
