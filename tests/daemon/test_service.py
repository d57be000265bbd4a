"""The real daemon (`python -m mediasyncd run`) in a child process on a tmp drop folder,
with real inotify; every wait is a condition polled with a timeout."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mediasyncd.app import App
from mediasyncd.ingest.pipeline import Ingester
from mediasyncd.store.digest import digest_bytes
from tests.daemon.support import DaemonProcess, query, wait_until, write_config
from tests.helpers import (
    assert_store_consistent,
    content_objects,
    index_state,
    media_bytes,
    write_files,
)

MakeDaemon = Callable[..., DaemonProcess]


def _status(daemon: DaemonProcess) -> dict[str, object]:
    return daemon.status()


def _blob_digests(daemon: DaemonProcess) -> set[str]:
    return {str(r[0]) for r in query(daemon.db, "SELECT digest FROM blobs")}


def test_drops_made_while_stopped_and_live_drops(
    tmp_path: Path, make_daemon: MakeDaemon, drop: Path
) -> None:
    """A drop made before the daemon starts is picked up by the start-up reconcile; a live
    drop is seen by inotify; status shows the daemon (pid, since, queue, last drop); SIGTERM
    exits 0."""
    daemon = make_daemon()
    early = drop / "before-start.jpg"
    early.write_bytes(media_bytes(20_000, "early", "jpeg"))
    daemon.start()
    wait_until(lambda: daemon.state_of(early) == "ok", what="the early drop")
    watch = daemon.events("watch.started")
    assert watch and watch[0]["mode"] == "inotify"

    status = _status(daemon)
    info = status["daemon"]
    assert isinstance(info, dict)
    assert info["running"] is True and info["pid"] == daemon.proc.pid  # type: ignore[union-attr]
    assert info["since"] and info["queue"] == 0

    live = write_files(
        drop / "unpacked-export", {f"img/{i}.png": media_bytes(3000, i) for i in range(5)}
    )
    wait_until(lambda: daemon.state_of(live) == "ok", what="the live folder drop")
    # A folder dropped as a whole is one source holding all its files.
    members = query(
        daemon.db,
        "SELECT COUNT(*) FROM occurrences o JOIN sources s ON s.id = o.source_id "
        "WHERE s.path = ? AND o.member LIKE 'img/%'",
        (str(live),),
    )
    assert members[0][0] == 5
    assert set(daemon.sources()) == {str(early), str(live)}

    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 10
    after = _status(daemon)["daemon"]
    assert isinstance(after, dict)
    assert after["running"] is False
    assert after["last_drop"]["path"] == str(live)  # type: ignore[index]
    # Every event of an ingest carries the source path.
    for event in daemon.events("job.done") + daemon.events("source.done"):
        assert event["source"] in {str(early), str(live)}


def test_default_drop_folder_is_in_the_state_dir(make_daemon: MakeDaemon) -> None:
    """With no watch.folders configured, `<state>/drop` is created and watched."""
    daemon = make_daemon(folders=[])
    daemon.start()
    daemon.wait_started()
    folder = daemon.state_dir / "drop"
    assert folder.is_dir()
    (folder / "a.png").write_bytes(media_bytes(1000, "default"))
    wait_until(lambda: daemon.state_of(folder / "a.png") == "ok", what="the default folder")
    assert daemon.stop() == 0


def _zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_copied_slowly_is_ingested_once_and_complete(
    make_daemon: MakeDaemon, drop: Path
) -> None:
    """A ~3 MB zip written at 1 MB/s, closed between chunks and with pauses longer than the
    quiet time, is held back until its central directory is readable, then ingested once,
    with every member's digest right."""
    files = {f"photos/{i}.png": media_bytes(1_000_000, f"slow{i}") for i in range(3)}
    data = _zip_of(files)
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    target = drop / "export.zip"
    chunk = 256 * 1024
    for offset in range(0, len(data), chunk):
        with open(target, "ab") as handle:  # a resumable download: closed between chunks
            handle.write(data[offset : offset + chunk])
        # 1 MB/s; every fourth chunk a pause longer than the quiet time.
        time.sleep(1.0 if (offset // chunk) % 4 == 3 else 0.25)
    wait_until(lambda: daemon.state_of(target) == "ok", what="the slow zip")
    assert daemon.stop() == 0

    assert daemon.jobs_for(target) == [("done", None)]
    assert daemon.sources()[str(target)] == ("ok", 1)  # one run: ingested once
    assert len([e for e in daemon.events("source.started") if e["source"] == str(target)]) == 1
    waiting = [e["reason"] for e in daemon.events("drop.waiting")]
    assert any("zip not complete" in r for r in waiting), waiting
    expected = {digest_bytes(b) for b in files.values()}
    assert expected <= _blob_digests(daemon)
    members = query(
        daemon.db,
        "SELECT o.member, o.digest FROM occurrences o JOIN sources s ON s.id = o.source_id "
        "WHERE s.path = ? AND o.member LIKE 'photos/%'",
        (str(target),),
    )
    assert dict(members) == {m: digest_bytes(b) for m, b in files.items()}


def test_file_held_open_by_writer_waits_for_it(make_daemon: MakeDaemon, drop: Path) -> None:
    """A file written with pauses by a writer that keeps it open is ingested only after
    the writer closes it: once, with the digest of the whole file."""
    data = media_bytes(2_000_000, "held", "wav")
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    target = drop / "recording.wav"
    with open(target, "wb") as handle:
        for offset in range(0, len(data), 500_000):
            handle.write(data[offset : offset + 500_000])
            handle.flush()
            time.sleep(0.8)  # quiet longer than settle_seconds, but still open
        assert daemon.state_of(target) is None
    wait_until(lambda: daemon.state_of(target) == "ok", what="the closed file")
    assert daemon.stop() == 0
    assert daemon.sources()[str(target)] == ("ok", 1)
    assert digest_bytes(data) in _blob_digests(daemon)
    assert any("open for writing" in e["reason"] for e in daemon.events("drop.waiting"))


def _reference_state(tmp_path: Path, folder: Path) -> tuple[set[str], dict[str, object]]:
    app = App.load(state_dir=str(tmp_path / "reference-state"))
    try:
        # Whatever readers exist decide the kind of drop; the comparison below includes
        # any member failures they record, so only equality with the daemon matters.
        Ingester(app.index, app.store, app.config, app.state_dir).ingest_paths([folder])
        return content_objects(app.store), index_state(app.index, app.store)
    finally:
        app.close()


@pytest.mark.parametrize("fault", ["ingest.after_batch_commit", "store.after_fsync:700"])
def test_sigkill_mid_ingest_then_restart_equals_clean_run(
    tmp_path: Path, make_daemon: MakeDaemon, drop: Path, fault: str
) -> None:
    """The daemon is SIGKILLed in the middle of a 1,200-file drop (after the first batch
    commit, or after an object's fsync); restarted, it resumes the job and ends in the
    state of an uninterrupted run."""
    folder = write_files(
        drop / "big-export", {f"{i // 100}/{i}.png": media_bytes(300, f"k{i}") for i in range(1200)}
    )
    daemon = make_daemon()
    daemon.start(env={"MEDIASYNCD_FAULT": fault})
    assert daemon.proc is not None
    assert daemon.proc.wait(timeout=60) == -signal.SIGKILL
    assert daemon.state_of(folder) == "pending"
    assert query(daemon.db, "SELECT state FROM jobs") == [("running",)]

    daemon.start()
    wait_until(lambda: daemon.state_of(folder) == "ok", 60, what="the resumed drop")
    assert daemon.stop() == 0
    resumed = daemon.events("job.started")[-1]
    assert resumed["resumed"] is True and resumed["attempt"] == 2

    objects, state = _reference_state(tmp_path, folder)
    app = App.load(state_dir=str(daemon.state_dir))
    try:
        assert_store_consistent(app.index, app.store)
        assert content_objects(app.store) == objects
        assert index_state(app.index, app.store) == state
    finally:
        app.close()


def test_sigterm_mid_ingest_exits_zero_and_resumes(make_daemon: MakeDaemon, drop: Path) -> None:
    """SIGTERM while a big drop is being ingested: exit 0 within a few seconds, the job is
    back in the queue, and the next start finishes it."""
    folder = write_files(
        drop / "huge", {f"{i // 100}/{i}.png": media_bytes(2000, f"t{i}") for i in range(3000)}
    )
    daemon = make_daemon()
    daemon.start()

    def some_members_stored() -> bool:
        rows = query(daemon.db, "SELECT COUNT(*) FROM occurrences")
        return bool(rows) and rows[0][0] > 0

    wait_until(some_members_stored, 60, interval=0.02, what="the ingest to be under way")
    assert daemon.state_of(folder) == "pending"
    started = time.monotonic()
    assert daemon.stop(timeout=30) == 0
    took = time.monotonic() - started
    assert took < 10, took
    assert daemon.events("job.interrupted")
    assert query(daemon.db, "SELECT state FROM jobs") == [("queued",)]

    daemon.start()
    wait_until(lambda: daemon.state_of(folder) == "ok", 90, what="the resumed drop")
    assert daemon.stop() == 0
    rows = query(daemon.db, "SELECT COUNT(*) FROM occurrences WHERE member LIKE '%.png'")
    assert rows[0][0] == 3000


def test_thousand_files_dropped_at_once(make_daemon: MakeDaemon, drop: Path) -> None:
    """1,000 files written into the drop folder at once: 1,000 drops, all ingested."""
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    for i in range(1000):
        (drop / f"img-{i:04}.png").write_bytes(media_bytes(200, f"m{i}"))
    wait_until(lambda: daemon.ok_count() == 1000, 110, interval=0.2, what="1,000 drops")
    assert daemon.stop() == 0
    counts = dict(query(daemon.db, "SELECT state, COUNT(*) FROM jobs GROUP BY state"))
    assert counts == {"done": 1000}
    assert len(_blob_digests(daemon)) >= 1000


def test_failed_drop_is_not_retried_until_it_changes(make_daemon: MakeDaemon, drop: Path) -> None:
    """A truncated zip fails once; reconcile passes do not retry it; other drops still
    land; a changed file is a new attempt."""
    daemon = make_daemon(
        watch={"incomplete_zip_seconds": 0.5}, daemon={"reconcile_interval_seconds": 0.3}
    )
    bad = drop / "broken.zip"
    good_zip = _zip_of({"a.png": media_bytes(5000, "fixed")})
    bad.write_bytes(good_zip[: len(good_zip) // 2])
    daemon.start()
    wait_until(lambda: [s for s, _ in daemon.jobs_for(bad)] == ["failed"], what="the failure")
    error = daemon.jobs_for(bad)[0][1]
    # The job row names the drop; its error says what is wrong without repeating it.
    assert error and "truncated or damaged zip" in error and "broken.zip" not in error
    other = drop / "fine.png"
    other.write_bytes(media_bytes(1000, "fine"))
    wait_until(lambda: daemon.state_of(other) == "ok", what="another drop")
    passes = len(daemon.events("reconcile.done"))
    wait_until(lambda: len(daemon.events("reconcile.done")) >= passes + 3, what="reconciles")
    assert len(daemon.jobs_for(bad)) == 1
    assert daemon.sources()[str(bad)] == ("failed", 1)
    assert "broken.zip" in str(_status(daemon)["daemon"]["last_error"])  # type: ignore[index]

    fixed = drop / ".broken.zip.tmp"
    fixed.write_bytes(good_zip)
    fixed.rename(bad)
    # The job is marked done just after its source: wait for the job, not the source.
    wait_until(
        lambda: [s for s, _ in daemon.jobs_for(bad)] == ["failed", "done"], what="the fixed zip"
    )
    assert daemon.state_of(bad) == "ok"
    assert daemon.stop() == 0


def test_temp_names_wait_for_their_rename(make_daemon: MakeDaemon, drop: Path) -> None:
    """`*.part` and dotfiles are not drops; the renamed file is ingested once."""
    daemon = make_daemon(daemon={"reconcile_interval_seconds": 0.3})
    daemon.start()
    daemon.wait_started()
    part = drop / "movie.mp4.part"
    part.write_bytes(media_bytes(5000, "part"))
    (drop / ".hidden.png").write_bytes(media_bytes(100, "hidden"))
    passes = len(daemon.events("reconcile.done"))
    wait_until(lambda: len(daemon.events("reconcile.done")) >= passes + 3, what="reconciles")
    assert daemon.sources() == {}
    final = drop / "movie.mp4"
    part.rename(final)
    wait_until(lambda: daemon.state_of(final) == "ok", what="the renamed file")
    assert daemon.stop() == 0
    assert daemon.jobs_for(final) == [("done", None)]
    assert set(daemon.sources()) == {str(final)}


@pytest.mark.parametrize("action", ["move", "delete"])
def test_after_ingest_move_or_delete(make_daemon: MakeDaemon, drop: Path, action: str) -> None:
    """move: the drop goes to done/ (not itself a drop) and the source follows it;
    delete: the drop is removed once durable, its objects and rows stay."""
    daemon = make_daemon(
        watch={"after_ingest": action, "done_folder": "done"},
        daemon={"reconcile_interval_seconds": 0.3},
        store={"fsync": True},
        index={"synchronous": "FULL"},
    )
    data = media_bytes(4000, f"after-{action}")
    target = drop / "photo.png"
    target.write_bytes(data)
    daemon.start()
    wait_until(lambda: not target.exists(), what=f"the {action}")
    wait_until(lambda: daemon.jobs_for(target) and daemon.jobs_for(target)[0][0] == "done")
    daemon.wait_started()  # one more reconcile: the done folder must not become a drop
    assert daemon.stop() == 0
    sources = daemon.sources()
    assert len(sources) == 1
    ((path, (state, _run)),) = sources.items()
    assert state == "ok"
    if action == "move":
        moved = drop / "done" / "photo.png"
        assert moved.read_bytes() == data
        assert path == str(moved)
    else:
        assert path.startswith(f"{target} (deleted ")
    assert digest_bytes(data) in _blob_digests(daemon)


def test_sighup_reloads_config(tmp_path: Path, make_daemon: MakeDaemon, drop: Path) -> None:
    """SIGHUP with a new folder in the config starts watching it; a broken config on
    SIGHUP is reported and the old one kept."""
    second = tmp_path / "second-drop"
    second.mkdir()
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    write_config(daemon.config, [drop, second])
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: daemon.events("config.reloaded"), what="the reload")
    (second / "b.png").write_bytes(media_bytes(1000, "second"))
    wait_until(lambda: daemon.state_of(second / "b.png") == "ok", what="a drop in the new folder")

    daemon.config.write_text("[watch]\nsettle_seconds = 'soon'\n")
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: daemon.events("config.reload_failed"), what="the failed reload")
    (drop / "c.png").write_bytes(media_bytes(1000, "still"))
    wait_until(lambda: daemon.state_of(drop / "c.png") == "ok", what="a drop after it")
    assert daemon.stop() == 0


def test_missing_folder_is_reported_and_watched_again(
    tmp_path: Path, make_daemon: MakeDaemon
) -> None:
    """A drop folder that does not exist is reported (log and status) and picked up once
    it appears."""
    later = tmp_path / "mounted-later"
    daemon = make_daemon(folders=[later])
    daemon.start()
    wait_until(lambda: daemon.events("watch.folder_missing"), what="the report")
    error = _status(daemon)["daemon"]["last_error"]  # type: ignore[index]
    assert str(later) in str(error)
    later.mkdir()
    (later / "a.png").write_bytes(media_bytes(1000, "later"))
    wait_until(lambda: daemon.state_of(later / "a.png") == "ok", 30, what="the late folder")
    assert daemon.stop() == 0


def _unshare_works() -> bool:
    try:
        result = subprocess.run(
            [
                "unshare",
                "--user",
                "--map-root-user",
                "sh",
                "-c",
                "echo 3 > /proc/sys/user/max_inotify_watches",
            ],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def test_inotify_watch_limit_falls_back_to_polling(make_daemon: MakeDaemon, drop: Path) -> None:
    """In a user namespace whose inotify watch limit is 3, a drop folder holding folders
    with subfolders cannot be watched whole: the limit is reported with the sysctl to
    raise, the folder is polled, and drops still land."""
    if not _unshare_works():
        pytest.skip("unprivileged user namespaces with their own inotify limit are unavailable")
    write_files(
        drop / "export", {f"d{i}/sub/x{i}.png": media_bytes(100, f"u{i}") for i in range(4)}
    )
    daemon = make_daemon()
    limit = 'echo 3 > /proc/sys/user/max_inotify_watches && exec "$@"'
    daemon.start(prefix=["unshare", "--user", "--map-root-user", "sh", "-c", limit, "sh"])
    # The limit is reported just before the polling watch starts: wait for both lines.
    wait_until(
        lambda: daemon.events("watch.inotify_limit") and daemon.events("watch.started"),
        what="the limit report and the watch that follows it",
    )
    report = daemon.events("watch.inotify_limit")[0]
    assert "fs.inotify.max_user_watches" in report["error"] and "sysctl" in report["error"]
    modes = [e["mode"] for e in daemon.events("watch.started")]
    assert modes[-1] == "poll"
    (drop / "late.png").write_bytes(media_bytes(1000, "late"))
    wait_until(lambda: daemon.state_of(drop / "late.png") == "ok", what="a drop while polling")
    assert daemon.stop() == 0


def test_systemd_notify_protocol(make_daemon: MakeDaemon) -> None:
    """Under a notify socket: READY=1 once the index is migrated, STATUS= lines,
    WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 at SIGTERM."""
    path = f"/tmp/msd-test-notify-{os.getpid()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    try:
        daemon = make_daemon()
        daemon.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "600000"})
        messages: list[str] = []

        def receive_until(wanted: str) -> float:
            while True:
                text = sock.recv(4096).decode()
                messages.append(text)
                if wanted in text.splitlines():
                    return time.monotonic()

        receive_until("READY=1")
        # READY came after the migrations: the tables exist.
        assert query(daemon.db, "SELECT COUNT(*) FROM jobs") == [(0,)]
        first = receive_until("WATCHDOG=1")
        second = receive_until("WATCHDOG=1")
        assert second - first < 0.6  # pinged well within the timeout
        daemon.signal(signal.SIGTERM)
        receive_until("STOPPING=1")
        assert daemon.proc is not None and daemon.proc.wait(timeout=30) == 0
        assert any(line.startswith("STATUS=") for m in messages for line in m.splitlines())
    finally:
        sock.close()
        Path(path).unlink(missing_ok=True)


def test_second_daemon_on_same_state_dir_is_refused(make_daemon: MakeDaemon) -> None:
    """Two daemons would ingest every drop twice: the second exits 2 with a clear error."""
    first = make_daemon()
    first.start()
    first.wait_started()
    second = DaemonProcess(first.config, first.state_dir, first.log.with_name("second.log"))
    second.start()
    assert second.proc is not None and second.proc.wait(timeout=30) == 2
    assert "another mediasyncd daemon is running" in second.log.read_text()
    assert first.stop() == 0


def _chattr(flag: str, path: Path) -> bool:
    try:
        return (
            subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False).returncode
            == 0
        )
    except OSError:
        return False


def test_store_error_is_retried_until_it_clears(make_daemon: MakeDaemon, drop: Path) -> None:
    """When the store cannot be written (here: objects/ made immutable, as a full disk
    would refuse writes), the drop stays pending and is retried with a backoff, not
    failed; once writes work again it lands (docs/reliability.md, scenario 8)."""
    daemon = make_daemon()
    daemon.start()
    daemon.wait_started()
    objects = daemon.state_dir / "objects"
    if not _chattr("+i", objects):
        daemon.stop()
        pytest.skip("chattr +i is not permitted here")
    target = drop / "photo.png"
    try:
        target.write_bytes(media_bytes(3000, "retry"))
        wait_until(lambda: len(daemon.events("job.retry")) >= 2, 30, what="two retries")
        assert daemon.state_of(target) == "pending"
        assert daemon.jobs_for(target) == []  # released, not failed
    finally:
        _chattr("-i", objects)
    # The job is marked done just after its source: wait for the job, not the source.
    wait_until(
        lambda: daemon.jobs_for(target) == [("done", None)], 30, what="the retry after the fix"
    )
    assert daemon.state_of(target) == "ok"
    assert daemon.stop() == 0
