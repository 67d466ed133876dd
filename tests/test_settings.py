"""``monitor.yaml`` validated once (monitor.settings): what a command needs of it comes from the
disk cache when the same bytes were validated before by the same model, and is validated again
(its problems reported) whenever the file or the model changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor import diskcache, settings
from monitor.ledger import Ledger
from monitor.problems import ProblemsError
from monitor.settings import PackNames, resolve_paths
from tests.conftest import copy_project

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder holding the bundled monitor.yaml, and a cache folder of its own."""
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(ROOT / "config" / "monitor.yaml", folder / "monitor.yaml")
    monkeypatch.setenv(diskcache.ENV, str(tmp_path / "cache"))
    return folder


def validated_now(paths: settings.Paths) -> bool:
    """Whether resolve_paths validated the file with the model (rather than read the cache)."""
    return "settings" in paths.__dict__


def test_settings_read_again_come_from_the_cache_as_the_model_gave_them(config: Path) -> None:
    first = resolve_paths(config, env={})
    assert validated_now(first)
    model = first.settings
    again = resolve_paths(config, env={})
    assert not validated_now(again)
    for paths in (first, again):
        assert (paths.pack, paths.day_cutoff) == (model.pack, model.day_cutoff)
        assert paths.db == Path(model.db)
        assert paths.feeds == config.resolve().parent / model.feeds
    assert again.settings == model  # the whole model, validated when asked for


def test_a_changed_settings_file_is_validated_again_and_its_problems_said_each_time(
        config: Path) -> None:
    resolve_paths(config, env={})
    text = (config / "monitor.yaml").read_text()
    (config / "monitor.yaml").write_text(text + "\nday_cutoff: '06:00'\n")
    changed = resolve_paths(config, env={})
    assert validated_now(changed) and changed.day_cutoff == "06:00"
    (config / "monitor.yaml").write_text(text + "\nday_cutoff: '25:00'\n")
    for _ in range(2):  # nothing of a file that does not validate is kept
        with pytest.raises(ProblemsError, match="day_cutoff"):
            resolve_paths(config, env={})
    (config / "monitor.yaml").write_text(text + "\nday_cutoff: '06:00'\n")
    assert resolve_paths(config, env={}).day_cutoff == "06:00"


@pytest.mark.parametrize("damage", ["garbage", "wrong types", "missing key", "deleted"])
def test_a_damaged_entry_is_made_again_from_the_model(config: Path, damage: str) -> None:
    model = resolve_paths(config, env={}).settings
    entry = settings._entry((config / "monitor.yaml").read_bytes())
    path = Path(diskcache.folder() or "") / f"{entry}.bin"
    assert path.exists()
    if damage == "garbage":
        path.write_bytes(b"\x00" * 40)
    elif damage == "wrong types":
        diskcache.save(entry, {"pack": 5, "db": "x", "feeds": "y", "day_cutoff": "z"}, [])
    elif damage == "missing key":
        diskcache.save(entry, {"pack": "elsewhere", "db": "x", "feeds": "y"}, [])
    else:
        path.unlink()
    paths = resolve_paths(config, env={})
    assert validated_now(paths)
    assert (paths.pack, paths.day_cutoff, paths.db) == (model.pack, model.day_cutoff,
                                                        Path(model.db))
    assert not validated_now(resolve_paths(config, env={}))  # made again


def test_the_models_code_is_in_the_entrys_name(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    for name in settings._MODEL_CODE:
        shutil.copy(ROOT / "monitor" / name, code / name)
    text = (ROOT / "config" / "monitor.yaml").read_bytes()
    assert settings._entry(text, code) == settings._entry(text)
    names = {settings._entry(text + b"\n"), settings._entry(text)}
    for name in settings._MODEL_CODE:
        (code / name).write_text((ROOT / "monitor" / name).read_text() + "\n# changed\n")
        names.add(settings._entry(text, code))
        shutil.copy(ROOT / "monitor" / name, code / name)
    assert len(names) == 2 + len(settings._MODEL_CODE)


def test_the_pack_in_force_is_the_flags_or_the_environments(config: Path) -> None:
    resolve_paths(config, env={})  # the cache holds the file's pack
    for paths in (resolve_paths(config, env={}, pack="idlib-2018-2020"),
                  resolve_paths(config, env={"MONITOR_PACK": "idlib-2018-2020"})):
        assert paths.pack == paths.settings.pack == "idlib-2018-2020"
    assert resolve_paths(config, env={"MONITOR_DB": "/x/l.db"}).db == Path("/x/l.db")


def test_without_a_cache_the_file_is_validated_every_time(config: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(diskcache.ENV, "")
    assert all(validated_now(resolve_paths(config, env={})) for _ in range(2))


def test_a_read_command_with_the_settings_validated_before_starts_without_pydantic(
        tmp_path: Path) -> None:
    """pydantic and the models' building were ~0.1 s of a read command's ~0.17 s start-up, and
    reading the pack's names and time zone with PyYAML ~0.02 s."""
    Ledger.open(tmp_path / "l.db").close()
    db = str(tmp_path / "l.db")
    script = ("import sys\nfrom monitor.cli import main\n"
              f"main(['--db', {db!r}, 'query', 'SELECT 1 AS one'], standalone_mode=False)\n"
              f"main(['--db', {db!r}, 'findings', '--term', 'coh-gov', '--since', '2016-09-12',"
              " '--format', 'json'], standalone_mode=False)\n"
              "print(sorted(sys.modules), file=sys.stderr)")
    env = {"PATH": "/usr/bin:/bin", diskcache.ENV: str(tmp_path / "cache"),
           "MONITOR_CONFIG": str(ROOT / "config")}
    loaded = []
    for _ in range(2):  # the first validates (and fills the cache), the second reads it
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True, cwd=tmp_path, env=env)
        assert "one" in out.stdout
        loaded.append({n.split(".")[0] for n in eval(out.stderr.strip().splitlines()[-1])})
    assert {"pydantic", "yaml"} <= loaded[0]
    assert not {"pydantic", "yaml"} & loaded[1]


# --- what read commands need of a pack: its names and time zone, kept in the disk cache -----

PACK = "syria-2016"


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the configuration and rules (the config folder), and a cache folder of its
    own."""
    monkeypatch.setenv(diskcache.ENV, str(tmp_path / "cache"))
    return copy_project(tmp_path)


def read_without_yaml(config: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """What reading a pack's names and time zone gives when no YAML file may be read."""
    def refuse(path: Path) -> Any:
        raise AssertionError(f"{path} was read although the cache holds it")

    with monkeypatch.context() as m:
        m.setattr(settings, "read_yaml", refuse)
        return names_and_zone(config)


def names_and_zone(config: Path) -> tuple[Any, Any]:
    return settings.pack_names(config, PACK), settings.pack_timezone(config, PACK)


def test_a_packs_names_and_zone_read_again_come_from_the_cache_as_the_files_gave_them(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.config import load_pack

    first = names_and_zone(project)
    pack = load_pack(project, PACK)
    assert first == (PackNames.of(pack), pack.tz)
    assert read_without_yaml(project, monkeypatch) == first
    monkeypatch.setenv(diskcache.ENV, "")  # without a cache: read every time
    with pytest.raises(AssertionError, match="was read"):
        read_without_yaml(project, monkeypatch)


@pytest.mark.parametrize("edit", ["rule renamed", "rule added", "rule removed",
                                  "instrument added", "time zone", "side added"])
def test_an_edited_pack_is_read_again(project: Path, edit: str) -> None:
    before_names, before_zone = names_and_zone(project)
    assert before_names is not None
    rules = project.parent / "rules" / PACK
    pack_yaml, instruments = project / PACK / "pack.yaml", project / PACK / "instruments.yaml"
    if edit == "rule renamed":
        rule = rules / "COH-GOV" / "rule.yaml"
        rule.write_text(rule.read_text().replace("term: COH-GOV", "term: COH-GOVT"))
    elif edit == "rule added":
        shutil.copytree(rules / "COH-GOV", rules / "COH-GOV2")
        rule = rules / "COH-GOV2" / "rule.yaml"
        rule.write_text(rule.read_text().replace("term: COH-GOV", "term: COH-GOV2"))
    elif edit == "rule removed":
        shutil.rmtree(rules / "COH-GOV")
    elif edit == "instrument added":
        text = instruments.read_text()
        instruments.write_text(text.replace("instruments:\n", "instruments:\n  - id: XTRA\n    "
                                            "title: an instrument added\n", 1))
    elif edit == "time zone":
        pack_yaml.write_text(pack_yaml.read_text().replace("Asia/Damascus", "Europe/Berlin"))
    else:
        pack_yaml.write_text(pack_yaml.read_text().replace("sides:\n", "sides:\n  - id: "
                                                            "added_side\n", 1))
    names, zone = names_and_zone(project)
    expected = {"rule renamed": ("terms", {"COH-GOV", "COH-GOVT"}),
                "rule added": ("terms", {"COH-GOV2"}), "rule removed": ("terms", {"COH-GOV"}),
                "instrument added": ("instruments", {"XTRA"}),
                "side added": ("sides", {"added_side"})}
    if edit == "time zone":
        assert str(zone) == "Europe/Berlin" and names == before_names
    else:
        field, changed = expected[edit]
        assert set(getattr(names, field)) ^ set(getattr(before_names, field)) == changed
        assert zone == before_zone


def test_a_pack_file_that_does_not_read_is_said_so_every_time(project: Path) -> None:
    good = names_and_zone(project)
    rule = project.parent / "rules" / PACK / "COH-GOV" / "rule.yaml"
    text = rule.read_text()
    rule.write_text(text + "\n  : broken [\n")
    for _ in range(2):  # nothing of a pack that does not read is kept
        assert settings.pack_names(project, PACK) is None
    assert settings.pack_timezone(project, PACK) == good[1]  # pack.yaml alone still gives it
    rule.write_text(text)
    assert names_and_zone(project) == good


def test_the_code_that_reads_a_pack_is_in_the_entrys_name(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    for name in settings._PACK_CODE:
        shutil.copy(ROOT / "monitor" / name, code / name)
    text = (ROOT / "config" / PACK / "pack.yaml").read_bytes()
    assert settings._pack_entry(PACK, text, code) == settings._pack_entry(PACK, text)
    names = {settings._pack_entry(PACK, text + b"\n"), settings._pack_entry("other", text),
             settings._pack_entry(PACK, text)}
    for name in settings._PACK_CODE:
        (code / name).write_text((ROOT / "monitor" / name).read_text() + "\n# changed\n")
        names.add(settings._pack_entry(PACK, text, code))
        shutil.copy(ROOT / "monitor" / name, code / name)
    assert len(names) == 3 + len(settings._PACK_CODE)
