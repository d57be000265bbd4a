"""The systemd units: `systemd-analyze security --offline=yes` rates each OK or SAFE, and
`systemd-analyze verify` accepts each (docs/reliability.md, scenario 13).

`verify` checks that ExecStart's binary exists. The shipped units name the installed
paths (/usr/local/bin/mediasyncd, ~/.local/bin/mediasyncd), which this machine may not
have, so each unit is verified twice: as shipped, where the only complaint allowed is the
missing binary, and as a copy whose ExecStart points at this venv's `mediasyncd`, which
must pass cleanly. The copy differs from the shipped file in that one line only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

UNITS = REPO_ROOT / "systemd"
ANALYZE = shutil.which("systemd-analyze")
EXPOSURE = re.compile(r"Overall exposure level for (\S+): ([0-9.]+) (\w+)")

pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _systemd_version() -> int:
    assert ANALYZE is not None
    out = subprocess.run([ANALYZE, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"systemd (\d+)", out.stdout)
    assert found, out.stdout
    return int(found.group(1))


def _analyze(args: list[str], *, user: bool, runtime: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    env = dict(os.environ)
    # A user manager looks up its runtime dir even offline.
    env["XDG_RUNTIME_DIR"] = str(runtime)
    command = [ANALYZE, *(["--user"] if user else []), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def _runtime(tmp_path: Path) -> Path:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return runtime


CASES = [("mediasyncd.service", False), ("mediasyncd-user.service", True)]


@pytest.mark.parametrize(("name", "user"), CASES)
def test_security_exposure_is_ok_or_safe(name: str, user: bool, tmp_path: Path) -> None:
    """The offline security score of each unit is below 5.0 (OK or SAFE)."""
    if _systemd_version() < 250:
        pytest.skip("--offline needs systemd 250 or later")
    result = _analyze(
        ["security", "--offline=yes", str(UNITS / name)], user=user, runtime=_runtime(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    match = EXPOSURE.search(result.stdout)
    assert match, result.stdout[-2000:]
    score, level = float(match.group(2)), match.group(3)
    print(f"{name}: {score} {level}")  # shown with -s; the figure the issue asks for
    assert level in {"OK", "SAFE"}, result.stdout
    assert score < 5.0


def _with_exec_start(source: Path, target_dir: Path, binary: Path) -> Path:
    """A copy of the unit whose ExecStart runs `binary`; asserts nothing else changed."""
    original = source.read_text().splitlines()
    changed = [
        re.sub(r"^ExecStart=\S+", f"ExecStart={binary}", line)
        if line.startswith("ExecStart=")
        else line
        for line in original
    ]
    differing = [(a, b) for a, b in zip(original, changed, strict=True) if a != b]
    assert len(differing) == 1 and differing[0][0].startswith("ExecStart="), differing
    target_dir.mkdir(parents=True, exist_ok=True)
    copy = target_dir / source.name
    copy.write_text("\n".join(changed) + "\n")
    return copy


@pytest.mark.parametrize(("name", "user"), CASES)
def test_verify_accepts_unit(name: str, user: bool, tmp_path: Path) -> None:
    """`systemd-analyze verify` passes on the unit with ExecStart pointing at an existing
    mediasyncd, and on the shipped unit complains about nothing but a missing binary."""
    binary = Path(sys.executable).parent / "mediasyncd"
    assert binary.exists(), binary
    runtime = _runtime(tmp_path)
    copy = _with_exec_start(UNITS / name, tmp_path / "units", binary)
    result = _analyze(["verify", str(copy)], user=user, runtime=runtime)
    assert result.returncode == 0, result.stdout + result.stderr
    assert name not in result.stderr, result.stderr

    shipped = _analyze(["verify", str(UNITS / name)], user=user, runtime=runtime)
    complaints = [line for line in shipped.stderr.splitlines() if line.strip()]
    for line in complaints:
        assert "is not executable" in line, line


def test_units_say_what_the_daemon_needs() -> None:
    """Type=notify with a watchdog, reload by SIGHUP, a state dir and a non-root user."""
    system = (UNITS / "mediasyncd.service").read_text()
    user = (UNITS / "mediasyncd-user.service").read_text()
    for text in (system, user):
        assert "\nType=notify\n" in text
        assert re.search(r"\nWatchdogSec=\S+", text)
        assert "ExecReload=/bin/kill -HUP $MAINPID" in text
        assert "\nRestrictAddressFamilies=AF_UNIX\n" in text
        assert "\nNoNewPrivileges=yes\n" in text
        assert "\nCapabilityBoundingSet=\n" in text
        assert "\nSystemCallFilter=@system-service\n" in text
        assert "\nProtectSystem=strict\n" in text
    assert "\nStateDirectory=mediasyncd\n" in system
    assert "\nDynamicUser=yes\n" in system and "\nUser=mediasyncd\n" in system
    assert "\nProtectHome=yes\n" in system
    assert "\nReadWritePaths=" in system


@pytest.mark.parametrize("name", [name for name, _user in CASES])
def test_memory_is_capped(name: str) -> None:
    """Both units set MemoryMax= to a sane cap (issue 11: a hostile drop once drove an
    ingest to 24 GB and the OOM killer); `verify` above checks systemd accepts it."""
    text = (UNITS / name).read_text()
    found = re.search(r"^MemoryMax=(\d+)([KMG])$", text, re.MULTILINE)
    assert found, f"{name} has no MemoryMax="
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[found.group(2)]
    assert 512 << 20 <= int(found.group(1)) * scale <= 8 << 30
