"""Coverage-guided fuzzing (atheris/libFuzzer) of the zip walker and the trace reader.

Run by tests/fuzz/test_atheris.py as `python atheris_harness.py TARGET -runs=N
CORPUS_DIR` in a scratch folder (libFuzzer writes crash files to the working directory).
An input that makes the target raise anything but the project's own errors (or the
per-member read errors the ingest wraps) ends the run with a non-zero exit and the
traceback; libFuzzer's own "Done N runs" line is the count for the report.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports():
    from mediasyncd.config import LimitsConfig
    from mediasyncd.errors import SourceError
    from mediasyncd.sources.container import ContainerWalker, Member
    from mediasyncd.traces.parse import Problem, TraceRecord, read_traces

_SCRATCH = Path(tempfile.mkdtemp(prefix="atheris-"))


def walk_target(data: bytes) -> None:
    path = _SCRATCH / "drop.zip"
    path.write_bytes(data)
    walker = ContainerWalker(
        path, LimitsConfig(), spool_dir=_SCRATCH / "spool", expand=lambda _p: True
    )
    try:
        for item in walker.walk():
            if isinstance(item, Member):
                try:
                    with item.open() as stream:
                        while stream.read(1 << 16):
                            pass
                except Exception:
                    # A member's read error (zlib.error, CRC, EOF...) is that member's
                    # failure: the ingest wraps every one
                    # (mediasyncd.ingest.members._GuardedStream).
                    pass
    except SourceError:
        pass


def traces_target(data: bytes) -> None:
    for item in read_traces(lambda: io.BytesIO(data)):
        assert isinstance(item, TraceRecord | Problem)


def main() -> None:
    target = {"walk": walk_target, "traces": traces_target}[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()  # libFuzzer prints "Done N runs" and exits the process


if __name__ == "__main__":
    main()
