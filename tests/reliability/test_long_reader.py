"""A reader holding a long read transaction while the daemon writes thousands of rows
(docs/reliability.md, scenario 11).

The reader is a real second connection to the daemon's index (as `mediasyncd status` or
`matches` open it) that keeps one snapshot open for the whole ingest, while CLI reports run
beside it. Pass: the daemon finishes the drop with no "database is locked" anywhere, the
reader's snapshot never changes under it, the CLI commands all succeed, and the WAL, which
may only grow while the reader pins it, is truncated by the daemon's own checkpoint once
the reader leaves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.daemon.support import DaemonProcess, wait_until
from tests.helpers import media_bytes, run_mediasyncd, write_files

FILES = 3000


def test_long_reader_while_daemon_writes_thousands_of_rows(
    tmp_path: Path,
    make_daemon: Callable[..., DaemonProcess],
    drop: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """No "database is locked" for the writer or the readers; the WAL shrinks after."""
    daemon = make_daemon(daemon={"checkpoint_interval_seconds": 1.0})
    daemon.start()
    daemon.wait_started()
    wal = daemon.db.with_name("index.db-wal")

    reader = sqlite3.connect(f"file:{daemon.db}?mode=ro", uri=True, timeout=30)
    try:
        reader.execute("BEGIN")
        before = reader.execute("SELECT COUNT(*) FROM occurrences").fetchone()[0]
        folder = write_files(
            tmp_path / "staging" / "many",
            {f"{i // 500}/{i}.png": media_bytes(200, f"many-{i}") for i in range(FILES)},
        )
        target = drop / "many"
        folder.rename(target)
        cli_runs = []
        while daemon.state_of(target) != "ok":
            assert not daemon.exited(), daemon.log.read_text()[-3000:]
            cli_runs.append(daemon.cli("status", "--json"))
            # The snapshot is frozen: the reader sees none of the daemon's commits.
            assert reader.execute("SELECT COUNT(*) FROM occurrences").fetchone()[0] == before
        pinned_wal = wal.stat().st_size
        assert pinned_wal > 0
    finally:
        reader.close()

    record_property("wal_bytes_while_pinned", pinned_wal)
    record_property("cli_reads_during_ingest", len(cli_runs))
    rows = run_mediasyncd(["--state-dir", str(daemon.state_dir), "status", "--json"])
    assert rows.returncode == 0
    assert cli_runs and all(r.returncode == 0 for r in cli_runs), [r.stderr for r in cli_runs]
    assert all("locked" not in r.stderr for r in cli_runs)
    # Once the reader is gone, the next scheduled checkpoint truncates the WAL.
    wait_until(lambda: wal.stat().st_size == 0, 30, what="the WAL truncated after the reader")
    assert daemon.stop() == 0
    log = daemon.log.read_text()
    assert "database is locked" not in log
    assert "job.retry" not in log
    occurrences = sqlite3.connect(f"file:{daemon.db}?mode=ro", uri=True)
    try:
        count = occurrences.execute(
            "SELECT COUNT(*) FROM occurrences o JOIN sources s ON s.id = o.source_id "
            "WHERE s.path = ? AND o.member NOT LIKE '.mediasyncd/%'",
            (str(target),),
        ).fetchone()[0]
    finally:
        occurrences.close()
    assert count == FILES
