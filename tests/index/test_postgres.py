"""The PostgreSQL engine itself: its schema and migrations, transactions, snapshots, how
its errors reach the user, and what SQLite allowed that it must too."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mediasyncd.errors import IndexDatabaseError
from mediasyncd.index import Index, engine, objects, sources
from mediasyncd.index.pg_schema import MIGRATIONS
from mediasyncd.index.postgres import open_postgres
from tests.conftest import invoke_cli
from tests.helpers import run_mediasyncd
from tests.index.test_sqlite import EXPECTED_TABLES


def tables(index: Index) -> set[str]:
    return {
        str(row[0])
        for row in index.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mediasyncd'"
        )
    }


def test_schema_has_every_table_and_its_migrations_recorded(connect: Callable[..., Index]) -> None:
    """A new database gets every table SQLite has (and the workers'), in the schema
    `mediasyncd`, with each migration recorded once; opening it again changes nothing."""
    index = connect()
    assert tables(index) >= EXPECTED_TABLES | {"workers", "export_expected", "schema_migrations"}
    names = [r[0] for r in index.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]
    again = connect()
    assert again.scalar("SELECT COUNT(*) FROM schema_migrations") == len(MIGRATIONS)


def test_workers_starting_together_set_the_schema_up_once(connect: Callable[..., Index]) -> None:
    """Four connections opening an empty database at once: one migrates, the others wait
    for it (an advisory lock) and find it done; nobody fails."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        try:
            connect()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert connect().scalar("SELECT COUNT(*) FROM schema_migrations") == len(MIGRATIONS)


def test_write_commits_rolls_back_and_nests_as_savepoints(connect: Callable[..., Index]) -> None:
    index = connect()
    with index.write():
        index.execute("INSERT INTO daemon_state (id, pid) VALUES (1, 10)")
        with pytest.raises(RuntimeError), index.write():
            index.execute("UPDATE daemon_state SET pid = 20")
            raise RuntimeError("inner")
        assert index.scalar("SELECT pid FROM daemon_state") == 10
    with pytest.raises(RuntimeError), index.write():
        index.execute("UPDATE daemon_state SET pid = 30")
        raise RuntimeError("outer")
    assert index.scalar("SELECT pid FROM daemon_state") == 10
    assert not index.in_transaction()


def test_a_failed_statement_rolls_its_transaction_back(connect: Callable[..., Index]) -> None:
    """PostgreSQL refuses every statement after an error until the transaction ends:
    write() ends it, and the connection is usable again."""
    index = connect()
    with pytest.raises(Exception, match=r"(?i)check"), index.write():
        index.execute("INSERT INTO daemon_state (id, pid) VALUES (2, 1)")
    assert index.scalar("SELECT COUNT(*) FROM daemon_state") == 0


def test_read_is_one_snapshot(connect: Callable[..., Index]) -> None:
    """A read() sees what was committed when it began, whatever commits meanwhile."""
    reader, writer = connect(), connect()
    with reader.read():
        assert reader.scalar("SELECT COUNT(*) FROM jobs") == 0
        with writer.write():
            writer.execute("INSERT INTO jobs (path, state, enqueued) VALUES ('/d', 'queued', 'x')")
        assert reader.scalar("SELECT COUNT(*) FROM jobs") == 0
    assert reader.scalar("SELECT COUNT(*) FROM jobs") == 1


def test_a_lock_held_too_long_is_an_operational_error(connect: Callable[..., Index]) -> None:
    """A statement that waits longer than busy_timeout_ms for a row another connection
    holds fails with an error the daemon retries and the CLI words, as SQLite's busy
    timeout does."""
    holder, waiter = connect(), connect(busy_timeout_ms=200)
    with holder.write():
        holder.execute("INSERT INTO daemon_state (id, pid) VALUES (1, 1)")
    with holder.write():
        holder.execute("UPDATE daemon_state SET pid = 2")
        with pytest.raises(engine.OPERATIONAL_ERRORS, match="lock timeout"), waiter.write():
            waiter.execute("UPDATE daemon_state SET pid = 3")


def test_text_is_compared_and_sorted_as_sqlite_does(connect: Callable[..., Index]) -> None:
    """Code-point order whatever the server's locale ('B' before 'a' before 'é'), and a
    NUL character, which PostgreSQL text cannot hold, is stored as U+FFFD."""
    index = connect()
    row = sources.begin_source_run(
        index, "/d", is_dir=False, size=1, mtime_ns=1, inode=1, device=1, fingerprint="f"
    )
    for name in ("é.png", "a.png", "B.png", "nul\x00.png"):
        objects.record_blob(index, name.ljust(32, "0"), 1, "image/png", None)
        objects.record_occurrence(index, row.id, name, name.ljust(32, "0"), "media", 1, None, 1)
    names = [r[0] for r in index.execute("SELECT member FROM occurrences ORDER BY member")]
    assert names == ["B.png", "a.png", "nul\ufffd.png", "é.png"]


def test_config_refuses_a_password_in_the_url(tmp_path: Path) -> None:
    """The config names the key and says where the password goes instead; it never
    repeats the password."""
    config = tmp_path / "c.toml"
    config.write_text('[index]\nurl = "postgresql://me:hunter2@db.example:5432/media"\n')
    result = invoke_cli(["--config", str(config), "status"])
    assert result.code == 2
    assert "index.url" in result.stderr and "PGPASSWORD" in result.stderr
    assert "hunter2" not in result.stderr
    for bad, words in (
        ("mysql://db/x", "unknown scheme"),
        ("postgresql://db/x?password=hunter2", "password parameter"),
        ("postgresql://db:99999/x", "not a valid URL"),
    ):
        config.write_text(f'[index]\nurl = "{bad}"\n')
        result = invoke_cli(["--config", str(config), "status"])
        assert result.code == 2 and words in result.stderr, result.stderr


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    """No server at the URL: exit 1, one line naming the URL, no traceback."""
    config = tmp_path / "c.toml"
    config.write_text('[index]\nurl = "postgresql://nobody@127.0.0.1:1/none"\n')
    done = run_mediasyncd(["--config", str(config), "status"])
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect to the index at postgresql://" in lines[0]


def test_without_the_scale_extra_a_postgresql_url_says_how_to_install_it(tmp_path: Path) -> None:
    """psycopg not installed (here: hidden from a real child process): exit 2 and the
    command that installs it, not an ImportError."""
    hide = tmp_path / "hide"
    (hide / "psycopg").mkdir(parents=True)
    (hide / "psycopg" / "__init__.py").write_text("raise ImportError('No module named psycopg')\n")
    config = tmp_path / "c.toml"
    config.write_text('[index]\nurl = "postgresql://me@127.0.0.1:5432/media"\n')
    done = run_mediasyncd(
        ["--config", str(config), "status"],
        env={"PYTHONPATH": os.pathsep.join([str(hide), *sys.path])},
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'mediasyncd[scale]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_open_with_a_bad_database_name_is_an_index_error(pg_url: str) -> None:
    with pytest.raises(IndexDatabaseError, match="cannot connect"):
        open_postgres(pg_url.rsplit("/", 1)[0] + "/no_such_database")
