"""Configuration and state-dir problems reach the user as one clear line, exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.helpers import run_mediasyncd

Run = Callable[..., CliResult]


def test_bad_key_in_config_flag(tmp_path: Path, run_cli: Run) -> None:
    """--config with an unknown key: exit 2, the file and the key named."""
    conf = tmp_path / "bad.toml"
    conf.write_text("[limits]\nmax_raito = 5\n")
    result = run_cli("--config", conf, "status")
    assert result.code == 2
    assert f"{conf}: limits.max_raito: unknown key" in result.stderr
    assert result.stdout == ""


def test_bad_type_in_env_config(
    tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MEDIASYNCD_CONFIG with a wrongly typed value: exit 2 with the key and the problem."""
    conf = tmp_path / "env.toml"
    conf.write_text("[watch]\npoll = 'sometimes'\n")
    monkeypatch.setenv("MEDIASYNCD_CONFIG", str(conf))
    result = run_cli("status")
    assert result.code == 2
    assert "watch.poll: must be true or false" in result.stderr


def test_missing_config_file(tmp_path: Path, run_cli: Run) -> None:
    """A named config that does not exist is an error, exit 2."""
    result = run_cli("--config", tmp_path / "nope.toml", "status")
    assert result.code == 2 and "config file not found" in result.stderr


def test_config_flag_beats_env(
    tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config is used even when MEDIASYNCD_CONFIG points at a broken file."""
    broken = tmp_path / "broken.toml"
    broken.write_text("nonsense = 1\n")
    good = tmp_path / "good.toml"
    good.write_text("[index]\nbusy_timeout_ms = 1000\n")
    monkeypatch.setenv("MEDIASYNCD_CONFIG", str(broken))
    assert run_cli("--config", good, "rematch").code == 0
    assert run_cli("--config", good, "status").code == 0
    assert run_cli("status").code == 2


def test_state_dir_resolution_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--state-dir beats MEDIASYNCD_STATE_DIR, which beats the config's state_dir (seen
    where `rematch`, a command that writes, creates the index)."""
    from tests.conftest import invoke_cli

    conf = tmp_path / "c.toml"
    conf.write_text(f'state_dir = "{tmp_path / "from-config"}"\n')
    invoke_cli(["--config", str(conf), "rematch"])
    assert (tmp_path / "from-config" / "index.db").exists()
    monkeypatch.setenv("MEDIASYNCD_STATE_DIR", str(tmp_path / "from-env"))
    invoke_cli(["--config", str(conf), "rematch"])
    assert (tmp_path / "from-env" / "index.db").exists()
    invoke_cli(["--config", str(conf), "--state-dir", str(tmp_path / "from-flag"), "rematch"])
    assert (tmp_path / "from-flag" / "index.db").exists()


def test_unusable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    """A state dir that cannot be created (a file is in the way) is one error line in a
    real process, exit 2, no traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    result = run_mediasyncd(["--state-dir", str(blocker / "state"), "status"])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(blocker) in result.stderr


def test_config_error_in_a_real_process(tmp_path: Path) -> None:
    """What a user sees: one line naming the key, exit 2, no traceback."""
    conf = tmp_path / "bad.toml"
    conf.write_text("[store]\nfsync = 'yes'\n")
    result = run_mediasyncd(["--config", str(conf), "--state-dir", str(tmp_path / "s"), "status"])
    assert result.returncode == 2
    assert "store.fsync" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
