"""The README's commands for reading the system service's state, tried against the unit's
own paths as far as this machine allows: the layout systemd makes for
`DynamicUser=yes` + `StateDirectory=` (the state in /var/lib/private/<name>, a symlink at
/var/lib/<name>, /var/lib/private closed to everyone but root) is built under a scratch
root, the state is written by the service's user, and the README's commands are run as
root, as another user, and on a read-only state dir.

Needs root (to act as other users, and for the read-only bind mount); skipped otherwise.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT
from tests.support.chatgpt_corpus import build_corpus, write_export

UNIT = REPO_ROOT / "systemd" / "mediasyncd.service"
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
# systemd allocates dynamic users from 61184..65519; a static service user is below 1000.
DYNAMIC_UID = 61184 + 17
STATIC_UID = 987
OTHER_UID = 65534  # nobody

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="acting as other users needs root")


def unit_settings() -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), value.strip())
    return settings


def readme_commands(containing: str) -> list[str]:
    """Command lines from the README's sh blocks that contain `containing`."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        commands.extend(
            line.strip() for line in block.splitlines() if containing in line and line.strip()
        )
    return commands


def test_readme_names_the_state_dir_the_unit_really_has() -> None:
    """With the unit's DynamicUser=yes and StateDirectory=, systemd puts the state in
    /var/lib/private/<StateDirectory>; the README's root command says so, and it no
    longer tells the `mediasyncd` user to read /var/lib/mediasyncd (it cannot: the
    symlink leads into /var/lib/private)."""
    settings = unit_settings()
    assert settings["DynamicUser"] == "yes"
    state_dir = f"/var/lib/private/{settings['StateDirectory']}"
    assert f"sudo mediasyncd --state-dir {state_dir} status" in readme_commands(state_dir)
    static = readme_commands("sudo -u mediasyncd")
    assert static == ["sudo -u mediasyncd mediasyncd --state-dir /var/lib/mediasyncd status"]
    assert "DynamicUser=no" in README


@dataclass
class Layout:
    root: Path
    config: Path
    drops: Path

    def host(self, path: str) -> Path:
        """A path of the real system (/var/lib/...) inside the scratch root."""
        return self.root / path.lstrip("/")


def _setpriv(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


def _user_env(home: Path) -> dict[str, str]:
    # This venv's packages and the repository, for an interpreter other users can run.
    packages = sysconfig.get_paths()["purelib"]
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), packages]),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "no-config"),
        "XDG_STATE_HOME": str(home / "no-state"),
    }


@functools.cache
def python_for_other_users() -> str | None:
    """An interpreter another user can run mediasyncd with: this one, or the system's
    Python of the same version when this one lives where others cannot reach (/root)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/python{version}"):
        probe = subprocess.run(
            [*_setpriv(OTHER_UID), "sh", "-c", f"exec {candidate} -c 'import mediasyncd.cli'"],
            capture_output=True,
            env=_user_env(Path("/")),
            cwd="/",
            check=False,
        )
        if probe.returncode == 0:
            return candidate
    return None


def as_user(uid: int, command: list[str], layout: Layout) -> subprocess.CompletedProcess[str]:
    """`python -m mediasyncd ...` as another user, with the unit's umask."""
    python = python_for_other_users()
    if python is None:
        pytest.skip("no Python interpreter that other users can run mediasyncd with")
    umask = unit_settings()["UMask"]
    script = f"umask {umask} && exec {shlex.join([python, '-m', 'mediasyncd', *command])}"
    return subprocess.run(
        [*_setpriv(uid), "sh", "-c", script],
        capture_output=True,
        text=True,
        env=_user_env(layout.root),
        cwd="/",
        check=False,
        timeout=120,
    )


def as_root(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediasyncd", *command],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=120,
    )


@pytest.fixture
def layout() -> Iterator[Layout]:
    """A scratch root every user can traverse (pytest's tmp_path is root's alone), with
    a config and a drop the service's user can read."""
    root = Path(tempfile.mkdtemp(prefix="mediasyncd-unit-", dir="/tmp"))
    root.chmod(0o755)
    drops = root / "drops"
    export = write_export(build_corpus(seed=21, n_conversations=6), drops, "A").path
    for path in [drops, *drops.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    config = root / "config.toml"
    config.write_text('[store]\nfsync = false\n[index]\nsynchronous = "NORMAL"\n')
    config.chmod(0o644)
    assert Path(export).exists()
    yield Layout(root, config, drops)
    shutil.rmtree(root, ignore_errors=True)


def dynamic_user_state(layout: Layout) -> Path:
    """What systemd makes for the unit, filled by an ingest run as its dynamic user."""
    name = unit_settings()["StateDirectory"]
    private = layout.host("/var/lib/private")
    state = private / name
    state.mkdir(parents=True)
    os.chown(state, DYNAMIC_UID, DYNAMIC_UID)
    state.chmod(int(unit_settings()["StateDirectoryMode"], 8))
    layout.host(f"/var/lib/{name}").symlink_to(f"private/{name}")
    # The service reaches its state from inside its own mount namespace; here the
    # private folder is opened to it while it writes, then closed as systemd keeps it.
    private.chmod(0o711)
    drop = next(layout.drops.glob("*.zip"))
    result = as_user(
        DYNAMIC_UID,
        ["--config", str(layout.config), "--state-dir", str(state), "ingest", str(drop)],
        layout,
    )
    assert result.returncode == 0, result.stderr
    private.chmod(0o700)
    return state


def owners(state: Path) -> dict[str, int]:
    return {str(p.relative_to(state)): p.lstat().st_uid for p in [state, *state.rglob("*")]}


@needs_root
def test_root_reads_the_dynamic_users_state_with_the_readme_commands(
    layout: Layout, tmp_path: Path
) -> None:
    """The README's `sudo mediasyncd --state-dir /var/lib/private/mediasyncd status`
    (and the other read-only commands on that dir) work, and leave no file in the state
    dir owned by root: the service's user can go on writing it afterwards."""
    state = dynamic_user_state(layout)
    before = owners(state)
    assert set(before.values()) == {DYNAMIC_UID}
    (command,) = readme_commands("sudo mediasyncd --state-dir /var/lib/private/")
    words = shlex.split(command)
    assert words[:2] == ["sudo", "mediasyncd"]
    args = [
        str(layout.host(w)) if w.startswith("/var/lib/") else w
        for w in words[2:]
        if w != "mediasyncd"
    ]
    assert args[-1] == "status"
    shown = as_root(["--config", str(layout.config), *args])
    assert shown.returncode == 0, shown.stderr
    assert "conversations  6 (" in shown.stdout
    base = ["--config", str(layout.config), "--state-dir", str(state)]
    counts = json.loads(as_root([*base, "status", "--json"]).stdout)
    assert counts["conversations"] == 6 and counts["blobs"] > 0
    # The symlink path gives the same (root can follow it into /var/lib/private).
    via_link = as_root(
        [
            "--config",
            str(layout.config),
            "--state-dir",
            str(layout.host("/var/lib/mediasyncd")),
            "status",
        ]
    )
    assert via_link.returncode == 0, via_link.stderr
    for extra in (["matches"], ["unresolved"], ["export", str(tmp_path / "out")]):
        result = as_root([*base, *extra])
        assert result.returncode == 0, (extra, result.stderr)
    assert owners(state) == before, "root left or changed files in the service's state dir"
    # And the service's user still writes its state (nothing root-owned is in the way).
    layout.host("/var/lib/private").chmod(0o711)
    again = as_user(DYNAMIC_UID, [*base, "rematch"], layout)
    assert again.returncode == 0, again.stderr


@needs_root
def test_another_user_is_told_who_can_read_the_state(layout: Layout) -> None:
    """Any other user (the README used to suggest the `mediasyncd` user) cannot open
    /var/lib/mediasyncd: one line saying so and giving the root command, exit 2."""
    dynamic_user_state(layout)
    link = layout.host("/var/lib/mediasyncd")
    for uid in (STATIC_UID, OTHER_UID):
        result = as_user(
            uid, ["--config", str(layout.config), "--state-dir", str(link), "status"], layout
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        # Named where it really is (the symlink resolved), with the command that works.
        real = layout.host("/var/lib/private/mediasyncd")
        assert f"cannot read the state dir {real}: permission denied" in lines[0]
        assert f"`sudo mediasyncd --config {layout.config} --state-dir {link} status`" in lines[0]


@needs_root
def test_static_user_reads_its_own_state(layout: Layout) -> None:
    """With DynamicUser=no the state is /var/lib/mediasyncd, owned by the static user,
    who runs the README's `sudo -u mediasyncd ...` command (as that uid here)."""
    state = layout.host("/var/lib/mediasyncd")
    state.mkdir(parents=True)
    os.chown(state, STATIC_UID, STATIC_UID)
    state.chmod(int(unit_settings()["StateDirectoryMode"], 8))
    base = ["--config", str(layout.config), "--state-dir", str(state)]
    drop = next(layout.drops.glob("*.zip"))
    assert as_user(STATIC_UID, [*base, "ingest", str(drop)], layout).returncode == 0
    (command,) = readme_commands("sudo -u mediasyncd")
    args = [str(state) if w == "/var/lib/mediasyncd" else w for w in shlex.split(command)[4:]]
    result = as_user(STATIC_UID, ["--config", str(layout.config), *args], layout)
    assert result.returncode == 0, result.stderr
    assert "conversations  6 (" in result.stdout


READ_ONLY_COMMANDS = [["status"], ["status", "--json"], ["matches"], ["unresolved"], ["export"]]


@needs_root
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=lambda c: "-".join(c).lower())
def test_read_only_commands_work_on_a_read_only_state_dir(
    tmp_path: Path, command: list[str]
) -> None:
    """The state dir mounted read-only (a backup, a snapshot, ProtectSystem): the
    commands that only read still answer (they used to fail switching the index to WAL
    or creating `tmp/`)."""
    state = tmp_path / "state"
    export = write_export(build_corpus(seed=22, n_conversations=4), tmp_path / "drops", "A").path
    assert as_root(["--state-dir", str(state), "ingest", export]).returncode == 0
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    args = ["export", str(tmp_path / "out")] if command == ["export"] else command
    script = (
        'mount --bind -o ro "$1" "$2" && shift 2 && '
        f'exec {shlex.quote(sys.executable)} -m mediasyncd "$@"'
    )
    result = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            script,
            "sh",
            str(state),
            str(mounted),
            "--state-dir",
            str(mounted),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=120,
    )
    if "mount:" in result.stderr and "permission denied" in result.stderr.lower():
        pytest.skip("this machine does not allow bind mounts")
    assert result.returncode == 0, result.stderr
    assert result.stdout
