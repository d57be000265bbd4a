"""Configuration: strict keys and types, where it is read from, where state lives."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from mediasyncd.config import (
    Config,
    LimitsConfig,
    load_config,
    parse_config,
    resolve_state_dir,
)
from mediasyncd.errors import ConfigError
from tests.helpers import REPO_ROOT

DEFAULT_TOML = REPO_ROOT / "config" / "mediasyncd.toml"


def test_empty_config_is_the_defaults() -> None:
    """An empty file means built-in defaults."""
    assert parse_config("") == Config()


def test_shipped_config_documents_every_key_with_its_default() -> None:
    """config/mediasyncd.toml parses, equals the built-in defaults and names every key of
    every table (the file is the documentation, so a new key must be added to it)."""
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    assert parse_config(text, DEFAULT_TOML) == Config()
    table = tomllib.loads(text)
    defaults = dataclasses.asdict(Config())
    defaults.pop("source_path")
    for key, value in defaults.items():
        assert key in table, f"{key} missing from config/mediasyncd.toml"
        if isinstance(value, dict):
            assert set(table[key]) == set(value), f"[{key}] keys differ from the dataclass"


def test_values_are_read() -> None:
    """Keys of nested tables land in their dataclass, with ints promoted to floats."""
    config = parse_config(
        """
        state_dir = "/srv/ms"
        [watch]
        folders = ["/drop/a", "/drop/b"]
        poll = true
        settle_seconds = 3
        [limits]
        max_ratio = 50
        max_nesting_depth = 1
        [traces]
        direction = "nearest"
        display_timezone = "+07:00"
        """
    )
    assert config.state_dir == "/srv/ms"
    assert config.watch.folders == ["/drop/a", "/drop/b"]
    assert config.watch.poll is True
    assert config.watch.settle_seconds == 3.0 and isinstance(config.watch.settle_seconds, float)
    assert config.limits == dataclasses.replace(LimitsConfig(), max_ratio=50.0, max_nesting_depth=1)
    assert config.traces.direction == "nearest"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("colour = 1", "colour", "unknown key"),
        ("[watch]\nfolder = []", "watch.folder", "unknown key"),
        ("[nosuchtable]\nx = 1", "nosuchtable", "unknown key"),
        ("[watch]\npoll = 'yes'", "watch.poll", "must be true or false"),
        ("[watch]\nfolders = '/drop'", "watch.folders", "must be a list"),
        ("[watch]\nfolders = [1]", "watch.folders[0]", "must be a string"),
        ("[limits]\nmax_members = 1.5", "limits.max_members", "must be a whole number"),
        ("[limits]\nmax_members = true", "limits.max_members", "must be a whole number"),
        ("[limits]\nmax_members = -1", "limits.max_members", "must not be negative"),
        ("[limits]\nmax_ratio = 'high'", "limits.max_ratio", "must be a number"),
        ("[limits]\nmax_ratio = 0.5", "limits.max_ratio", "must be at least 1"),
        ("[limits]\nmax_nesting_depth = 17", "limits.max_nesting_depth", "16 or less"),
        ("[index]\nsynchronous = 'OFF'", "index.synchronous", "must be one of"),
        ("[traces]\ndisplay_timezone = 'Mars/Olympus'", "traces.display_timezone", ""),
        ("[watch]\nafter_ingest = 'move'", "watch.done_folder", "needs watch.done_folder"),
        ("state_dir = 5", "state_dir", "must be a string"),
        ("watch = 5", "watch", "must be a table"),
    ],
)
def test_bad_key_or_value_is_named(text: str, key: str, problem: str) -> None:
    """Every bad key and bad value raises ConfigError naming the key and the problem."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("/etc/x.toml"))
    assert caught.value.key == key
    assert f"/etc/x.toml: {key}: " in str(caught.value)
    assert problem in str(caught.value)


def test_unknown_key_lists_the_known_ones() -> None:
    """The error for a typo shows the keys that would have been valid."""
    with pytest.raises(ConfigError, match=r"known keys here: .*max_ratio"):
        parse_config("[limits]\nmax_raito = 3")


def test_invalid_toml_is_a_config_error() -> None:
    """A syntax error is reported as a ConfigError with the parser's location."""
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[watch\npoll = true")


def _write_config(path: Path, state_dir: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'state_dir = "{state_dir}"\n', encoding="utf-8")
    return path


def test_config_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--config beats MEDIASYNCD_CONFIG, which beats $XDG_CONFIG_HOME/mediasyncd/config.toml."""
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    _write_config(xdg / "mediasyncd" / "config.toml", "/from/xdg")
    env_file = _write_config(tmp_path / "env.toml", "/from/env")
    flag_file = _write_config(tmp_path / "flag.toml", "/from/flag")
    assert load_config().state_dir == "/from/xdg"
    assert load_config().source_path == xdg / "mediasyncd" / "config.toml"
    monkeypatch.setenv("MEDIASYNCD_CONFIG", str(env_file))
    assert load_config().state_dir == "/from/env"
    assert load_config(flag_file).state_dir == "/from/flag"


def test_no_config_anywhere_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any config file the built-in defaults apply (unless /etc has one)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    if Path("/etc/mediasyncd/config.toml").exists():
        pytest.skip("this machine has /etc/mediasyncd/config.toml")
    config = load_config()
    assert config == Config() and config.source_path is None


def test_named_config_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config named by flag or env var that does not exist is an error, not a silent
    fall back to defaults."""
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")
    monkeypatch.setenv("MEDIASYNCD_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_config()


def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    """A config that is not UTF-8 (or not a file) is named in a ConfigError."""
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"state_dir = '\xff'\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)


def test_state_dir_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--state-dir > MEDIASYNCD_STATE_DIR > config state_dir > $STATE_DIRECTORY >
    $XDG_STATE_HOME/mediasyncd."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdgstate"))
    plain = Config()
    assert resolve_state_dir(plain) == (tmp_path / "xdgstate" / "mediasyncd").resolve()
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path / 'systemd'}:{tmp_path / 'other'}")
    assert resolve_state_dir(plain) == (tmp_path / "systemd").resolve()
    configured = Config(state_dir=str(tmp_path / "configured"))
    assert resolve_state_dir(configured) == (tmp_path / "configured").resolve()
    monkeypatch.setenv("MEDIASYNCD_STATE_DIR", str(tmp_path / "env"))
    assert resolve_state_dir(configured) == (tmp_path / "env").resolve()
    assert resolve_state_dir(configured, tmp_path / "flag") == (tmp_path / "flag").resolve()


def test_home_default_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without XDG_STATE_HOME the state dir is ~/.local/state/mediasyncd."""
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_state_dir(Config()) == (tmp_path / ".local/state/mediasyncd").resolve()


def test_relative_state_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    """state_dir = "data" in /x/conf.toml means /x/data, wherever the daemon starts."""
    conf = _write_config(tmp_path / "etc" / "conf.toml", "data")
    assert resolve_state_dir(load_config(conf)) == (tmp_path / "etc" / "data").resolve()


def test_config_is_frozen() -> None:
    """Settings cannot be changed behind the loader's back."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().limits.max_ratio = 1.0  # type: ignore[misc]
