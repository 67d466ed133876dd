"""``monitor.yaml`` validated once (monitor.settings): what a command needs of it comes from the
disk cache when the same bytes were validated before by the same model, and is validated again
(its problems reported) whenever the file or the model changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import diskcache, settings
from monitor.ledger import Ledger
from monitor.problems import ProblemsError
from monitor.settings import resolve_paths

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
    """pydantic and the models' building were ~0.1 s of a read command's ~0.17 s start-up."""
    Ledger.open(tmp_path / "l.db").close()
    script = ("import sys\nfrom monitor.cli import main\n"
              f"main(['--db', {str(tmp_path / 'l.db')!r}, 'query', 'SELECT 1 AS one'], "
              "standalone_mode=False)\n"
              "print(sorted(sys.modules), file=sys.stderr)")
    env = {"PATH": "/usr/bin:/bin", diskcache.ENV: str(tmp_path / "cache"),
           "MONITOR_CONFIG": str(ROOT / "config")}
    loaded = []
    for _ in range(2):  # the first validates (and fills the cache), the second reads it
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True, cwd=tmp_path, env=env)
        assert "one" in out.stdout
        loaded.append({n.split(".")[0] for n in eval(out.stderr.strip().splitlines()[-1])})
    assert "pydantic" in loaded[0]
    assert "pydantic" not in loaded[1]
