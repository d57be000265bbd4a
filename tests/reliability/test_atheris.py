"""Coverage-guided fuzzing with atheris (libFuzzer) for a fixed number of runs, seeded with
real zips and trace exports so mutations start from valid structure. Hypothesis explores
shapes we describe; libFuzzer follows the branches of the code itself. Skipped when atheris
is not installed (it ships wheels for Linux x86-64 only).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, media_bytes, zip_bytes

pytest.importorskip("atheris")

HARNESS = Path(__file__).with_name("atheris_harness.py")
RUNS = 20_000


def _seeds(folder: Path, target: str) -> Path:
    folder.mkdir()
    if target == "walk":
        inner = zip_bytes({"inner/a.png": media_bytes(64, "a")})
        (folder / "nested.zip").write_bytes(
            zip_bytes({"Files__1.zip": inner, "b.txt": b"hello"}, zipfile.ZIP_STORED)
        )
        (folder / "deflated.zip").write_bytes(
            zip_bytes({"c.png": media_bytes(200, "c"), "d/e.json": b"[]"}, zipfile.ZIP_DEFLATED)
        )
    else:
        trace = {"id": "t1", "timestamp": "2025-01-31T12:00:00Z", "userId": "u", "input": "[]"}
        (folder / "array.json").write_text(json.dumps([trace]))
        (folder / "page.json").write_text(json.dumps({"data": [trace], "meta": {}}))
        (folder / "lines.jsonl").write_text(json.dumps(trace) + "\n")
        (folder / "rows.csv").write_text('id,timestamp,userId\n"t1","2025-01-31T12:00:00Z","u"\n')
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("target", ["walk", "traces"])
def test_atheris_finds_no_unexpected_exception(
    tmp_path: Path, target: str, record_property: Callable[[str, object], None]
) -> None:
    """RUNS coverage-guided inputs: the walker raises only SourceError (members only
    their read errors), the trace reader only yields records and Problems."""
    corpus = _seeds(tmp_path / "corpus", target)
    done = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            target,
            f"-runs={RUNS}",
            "-seed=7",
            "-max_len=4096",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # crash files land here, never in the repository
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
        check=False,
    )
    found = re.search(r"Done (\d+) runs", done.stderr)
    record_property("fuzz_examples", int(found.group(1)) if found else 0)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    assert found and int(found.group(1)) >= RUNS
    assert not list(tmp_path.glob("crash-*"))
