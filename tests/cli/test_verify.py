"""`mediasyncd verify`: exit 1 on damage, name it, quarantine it, say what to re-drop."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mediasyncd.store.digest import digest_bytes
from tests.conftest import CliResult
from tests.helpers import media_bytes, run_mediasyncd, write_files

Run = Callable[..., CliResult]
DATA = media_bytes(50_000, "verify-me")


def _ingested(tmp_path: Path, run_cli: Run) -> Path:
    drop = write_files(tmp_path / "drop", {"a.png": DATA, "b.png": media_bytes(999, "b")})
    assert run_cli("ingest", drop).code == 0
    return drop


def _flip(state_dir: Path) -> Path:
    digest = digest_bytes(DATA)
    path = state_dir / "objects" / digest[:2] / digest[2:]
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[40_000] ^= 0x10
    path.write_bytes(bytes(data))
    return path


def test_clean_store_exits_0(tmp_path: Path, run_cli: Run) -> None:
    """An intact store: exit 0, 'ok'."""
    _ingested(tmp_path, run_cli)
    result = run_cli("verify")
    assert result.code == 0 and result.stdout.strip().endswith("ok")


def test_flipped_bit_exits_1_and_says_what_to_redrop(
    tmp_path: Path, run_cli: Run, state_dir: Path
) -> None:
    """A flipped bit: exit 1 in a real process, the object named as damaged, where it was
    quarantined, and which source to drop again; the re-drop then repairs it."""
    drop = _ingested(tmp_path, run_cli)
    path = _flip(state_dir)
    result = run_mediasyncd(["--state-dir", str(state_dir), "verify"])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"damaged: {digest_bytes(DATA)} {path}" in result.stdout
    assert f"quarantined to {state_dir / 'quarantine'}" in result.stdout
    assert f"re-drop to repair: {drop.absolute()}" in result.stdout
    assert not path.exists()
    assert run_cli("ingest", drop).code == 0
    assert run_cli("verify").code == 0


def test_json_report(tmp_path: Path, run_cli: Run, state_dir: Path) -> None:
    """--json: checked counts, ok flag and one record per problem."""
    _ingested(tmp_path, run_cli)
    _flip(state_dir)
    result = run_cli("verify", "--json")
    assert result.code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["checked"] >= 2
    (problem,) = report["problems"]
    assert problem["kind"] == "damaged" and problem["digest"] == digest_bytes(DATA)


def test_missing_object_exits_1(tmp_path: Path, run_cli: Run, state_dir: Path) -> None:
    """A deleted object is reported missing, exit 1."""
    _ingested(tmp_path, run_cli)
    digest = digest_bytes(DATA)
    (state_dir / "objects" / digest[:2] / digest[2:]).unlink()
    result = run_cli("verify")
    assert result.code == 1 and f"missing: {digest}" in result.stdout


def test_sample_option(tmp_path: Path, run_cli: Run) -> None:
    """--sample takes a fraction in (0, 1]; 0 or more than 1 is a usage error."""
    _ingested(tmp_path, run_cli)
    assert run_cli("verify", "--sample", "0.5").code == 0
    assert run_cli("verify", "--sample", "0").code == 2
    assert run_cli("verify", "--sample", "1.5").code == 2
