"""One writer per source: a second holder waits, says so once, and can be stopped."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mediasyncd.store.locks import Interrupted, lock_path, source_lock


def test_lock_files_are_per_source_and_inside_the_state_dir(tmp_path: Path) -> None:
    a = lock_path(tmp_path, "/drop/a.zip")
    assert a.parent == tmp_path / "locks"
    assert a != lock_path(tmp_path, "/drop/b.zip")
    assert a == lock_path(tmp_path, "/drop/a.zip")


def test_a_second_writer_waits_until_the_first_is_done(tmp_path: Path) -> None:
    waits: list[int | None] = []
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with source_lock(tmp_path, "/drop/x"):
            order.append("first in")
            inside.set()
            release.wait(10)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)

    def on_wait(holder: int | None) -> None:
        waits.append(holder)
        release.set()  # only now may the first writer finish

    with source_lock(tmp_path, "/drop/x", on_wait=on_wait):
        order.append("second in")
    thread.join(10)
    assert order == ["first in", "first out", "second in"]
    assert len(waits) == 1 and isinstance(waits[0], int)


def test_a_waiting_writer_can_be_stopped(tmp_path: Path) -> None:
    with source_lock(tmp_path, "/drop/y"):
        with pytest.raises(Interrupted), source_lock(tmp_path, "/drop/y", should_stop=lambda: True):
            pytest.fail("the lock is held; this must not run")
        # A different source is not held up.
        with source_lock(tmp_path, "/drop/z"):
            pass
