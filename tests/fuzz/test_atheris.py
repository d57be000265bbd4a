"""Coverage-guided fuzzing with atheris (libFuzzer) of the zip walker and the trace reader.

The default run replays the saved inputs in tests/fuzz/corpus/<target>
(seeds with valid structure, and every crash ever found): libFuzzer's `-runs=0` executes
each file once and mutates nothing, so this test cannot fail by luck. Exploration with
a random seed runs only on demand (`pytest -m fuzz`); a crash it finds is saved into
the corpus folder as `crash-<sha1>`, where the default run replays it from then on.
Skipped when atheris is not installed (it ships wheels for Linux x86-64 only).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

pytest.importorskip("atheris")

HARNESS = Path(__file__).with_name("atheris_harness.py")
CORPUS = Path(__file__).with_name("corpus")
TARGETS = ["walk", "traces"]
EXPLORE_RUNS = int(os.environ.get("MEDIASYNCD_FUZZ_RUNS", "200000"))


def _libfuzzer(tmp_path: Path, target: str, *options: str) -> tuple[int, str, int]:
    """Run the harness on a scratch copy of the target's corpus (libFuzzer may add to the
    folder it is given); returns (exit code, stderr, runs done)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / target, corpus)
    done = subprocess.run(
        [sys.executable, str(HARNESS), target, *options, str(corpus)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # crash files land here unless -artifact_prefix says otherwise
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
        timeout=3600,
        check=False,
    )
    found = re.search(r"Done (\d+) runs", done.stderr)
    return done.returncode, done.stderr, int(found.group(1)) if found else 0


@pytest.mark.parametrize("target", TARGETS)
def test_saved_fuzz_inputs_replay_cleanly(
    tmp_path: Path, target: str, record_property: Callable[[str, object], None]
) -> None:
    """Every saved input, seeds and past crashes: the walker raises only SourceError (a
    member only its read errors), the trace reader only yields records and Problems."""
    saved = sorted(p.name for p in (CORPUS / target).iterdir())
    assert any(name.startswith("crash-") for name in saved), saved
    code, stderr, runs = _libfuzzer(tmp_path, target, "-runs=0", "-max_len=1048576")
    record_property("fuzz_examples", runs)
    assert code == 0, stderr[-4000:]
    assert runs >= len(saved), stderr[-2000:]
    assert not list(tmp_path.glob("crash-*"))


@pytest.mark.fuzz
@pytest.mark.parametrize("target", TARGETS)
def test_exploratory_fuzzing_finds_no_unexpected_exception(
    tmp_path: Path, target: str, record_property: Callable[[str, object], None]
) -> None:
    """On demand (`pytest -m fuzz`; MEDIASYNCD_FUZZ_RUNS sets the runs): mutate from the
    saved inputs with a random seed. A crash is saved into the corpus folder, so the
    default run replays it once it is fixed."""
    artifacts = CORPUS / target
    code, stderr, runs = _libfuzzer(
        tmp_path,
        target,
        f"-runs={EXPLORE_RUNS}",
        "-seed=0",  # libFuzzer picks one at random
        "-max_len=4096",
        f"-artifact_prefix={artifacts}/",
    )
    record_property("fuzz_examples", runs)
    assert code == 0, f"saved under {artifacts}: {stderr[-4000:]}"
    assert runs >= EXPLORE_RUNS
