"""Benchmark 3 as the daemon sees it: one warm process, fsync and synchronous=FULL on.

`bench.run_all` times whole CLI commands, so interpreter start (~0.2 s) and the lazy
import of every reader dominate the small drop. A running daemon pays those once. This
script ingests the big export, then, in the same process with every reader and matcher
already imported, times the privacy archive beside a full rematch.

    .venv/bin/python bench/warm_privacy.py STATE_DIR EXPORT.zip PRIVACY.zip
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mediasyncd.app import App
from mediasyncd.config import Config
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.kinds import all_handlers, all_matchers


def main() -> int:
    state, export, privacy = (Path(a) for a in sys.argv[1:4])
    app = App(Config(), state)
    all_handlers()
    all_matchers(app.config)
    started = time.perf_counter()
    Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths([export])
    export_seconds = time.perf_counter() - started
    started = time.perf_counter()
    small = Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths([privacy])
    small_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rematched = sum(m.rematch(app.index, None).recomputed for m in all_matchers(app.config))
    full_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "export_seconds": round(export_seconds, 1),
                "privacy_seconds": round(small_seconds, 4),
                "privacy_rematched": small.rematched_conversations,
                "privacy_blobs_new": small.blobs_new,
                "full_rematch_seconds": round(full_seconds, 3),
                "full_rematched": rematched,
                "ratio_percent": round(100 * small_seconds / full_seconds, 2),
            }
        )
    )
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
