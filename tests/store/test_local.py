"""The local store: its layout, read-only objects, temp files and durability steps.

The Store contract both stores keep (round trips, hits, collisions, limits, iteration) is
tested on both in tests/store/test_contract.py."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mediasyncd.errors import StoreError
from mediasyncd.store import TEMP_PREFIX, ObjectStore
from mediasyncd.store.digest import digest_bytes
from tests.helpers import media_bytes


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "state")


def test_object_lives_at_two_plus_thirty_hex(store: ObjectStore) -> None:
    """An object is stored at objects/<2 hex>/<30 hex> of its XXH3-128 digest."""
    result = store.put_stream(io.BytesIO(b"mediasyncd"))
    assert result.digest == "ce408618f29bcdeebf7365848d9f494f"
    path = store.root / "objects" / "ce" / "408618f29bcdeebf7365848d9f494f"
    assert store.path_of(result.digest) == path
    assert path.read_bytes() == b"mediasyncd"
    assert result.new and result.size == 10


def test_objects_are_read_only(store: ObjectStore) -> None:
    """A stored object has mode 0444, whatever the umask."""
    old = os.umask(0)
    try:
        result = store.put_stream(io.BytesIO(b"read only please"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.path_of(result.digest).stat().st_mode) == 0o444


def test_existing_object_is_never_rewritten(store: ObjectStore) -> None:
    """A hit leaves the existing file (same inode, same bytes) in place and only makes it
    young again, so gc's grace period protects an object an ingest is about to name."""
    result = store.put_stream(io.BytesIO(b"keep me"))
    path = store.path_of(result.digest)
    os.utime(path, (1_000_000, 1_000_000))
    before = path.stat()
    again = store.put_stream(io.BytesIO(b"keep me"))
    after = path.stat()
    assert not again.new
    assert before.st_ino == after.st_ino
    assert path.read_bytes() == b"keep me"
    assert after.st_mtime > before.st_mtime


def test_unwritable_store_is_a_store_error(tmp_path: Path) -> None:
    """A store whose objects/ cannot be written raises StoreError, never a bare OSError."""
    blocker = tmp_path / "state"
    blocker.mkdir()
    (blocker / "objects").write_text("not a folder")
    with pytest.raises(StoreError):
        ObjectStore(blocker).put_stream(io.BytesIO(b"data"))


def test_path_of_rejects_non_digests(store: ObjectStore) -> None:
    """Only a 32-hex digest names an object (no path tricks through the API)."""
    for bad in ("../../etc/passwd", "ABCDEF" * 6, "12"):
        with pytest.raises(StoreError):
            store.path_of(bad)


def test_iterate_names_misplaced_files(store: ObjectStore) -> None:
    """Files whose place is not a digest are listed with None; temp files are skipped."""
    result = store.put_stream(io.BytesIO(b"a"))
    (store.objects / "stray").write_bytes(b"?")
    (store.objects / "ab").mkdir()
    (store.objects / "ab" / "short").write_bytes(b"?")
    (store.objects / f"{TEMP_PREFIX}1-x").write_bytes(b"?")
    listed = {
        Path(e.location).relative_to(store.objects).as_posix(): e.digest for e in store.iterate()
    }
    assert listed == {
        store.path_of(result.digest).relative_to(store.objects).as_posix(): result.digest,
        "stray": None,
        "ab/short": None,
    }


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_stale_temp_files_of_dead_writers_are_removed(store: ObjectStore) -> None:
    """Temp files of dead pids go; ours and other live processes' stay."""
    store.ensure()
    dead = store.objects / f"{TEMP_PREFIX}{_dead_pid()}-aaaa"
    ours = store.objects / f"{TEMP_PREFIX}{os.getpid()}-bbbb"
    live = store.objects / f"{TEMP_PREFIX}1-cccc"  # pid 1 is always alive
    garbage = store.objects / f"{TEMP_PREFIX}notapid"
    for temp in (dead, ours, live, garbage):
        temp.write_bytes(b"partial")
    assert store.remove_stale_temp_files() == 2
    assert sorted(store.temp_files()) == sorted([ours, live])


def test_temp_file_lives_in_objects_folder(store: ObjectStore) -> None:
    """While a put runs, its bytes are in objects/tmp-<pid>-..., on the store's filesystem."""
    seen: list[list[Path]] = []

    class Spy(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            seen.append(store.temp_files())
            return super().read(size)

    store.put_stream(Spy(b"x" * 100))
    assert seen[0] and seen[0][0].parent == store.objects
    assert seen[0][0].name.startswith(f"{TEMP_PREFIX}{os.getpid()}-")


def test_quarantine_moves_object_out_of_the_store(store: ObjectStore) -> None:
    """quarantine_object moves a file under quarantine/ with a label and removes it from
    objects/."""
    result = store.put_stream(io.BytesIO(b"soon damaged"))
    target = store.quarantine_object(store.path_of(result.digest), f"{result.digest}-damaged")
    assert target.parent == store.quarantine_dir
    assert target.name.startswith(f"{result.digest}-damaged-")
    assert not store.has(result.digest)
    assert target.read_bytes() == b"soon damaged"


def test_concurrent_writers_of_same_content_both_succeed(tmp_path: Path) -> None:
    """Two processes storing the same bytes at once: one links, the other sees a hit; the
    object is intact and no temp file remains (link() never overwrites)."""
    root = tmp_path / "state"
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(media_bytes(4 * 1024 * 1024, kind="png"))
    script = (
        "import sys; from pathlib import Path; from mediasyncd.store import ObjectStore\n"
        "s = ObjectStore(Path(sys.argv[1]))\n"
        "with open(sys.argv[2], 'rb') as f: r = s.put_stream(f)\n"
        "print(r.digest, r.new)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(root), str(data_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    digests = {o[0] for o in outputs}
    assert digests == {digest_bytes(data_file.read_bytes())}
    assert sum(o[1] == "True" for o in outputs) >= 1
    store = ObjectStore(root)
    assert store.temp_files() == []
    assert store.path_of(digests.pop()).read_bytes() == data_file.read_bytes()


def test_a_hit_on_an_object_the_index_does_not_know_is_checked(store: ObjectStore) -> None:
    """An object file no index row vouches for (planted, or left by a killed ingest) that
    does not hold what its name says is quarantined and replaced by the real bytes; an
    unknown object that is genuine stays and counts as a hit."""
    real = media_bytes(3000, "real")
    digest = digest_bytes(real)
    planted = store.path_of(digest)
    planted.parent.mkdir(parents=True)
    planted.write_bytes(media_bytes(3000, "planted"))
    result = store.put_stream(io.BytesIO(real), known=lambda _digest: False)
    assert planted.read_bytes() == real and result.new
    assert [p.name.startswith(f"untrusted-{digest}") for p in store.quarantine_dir.iterdir()] == [
        True
    ]
    again = store.put_stream(io.BytesIO(real), known=lambda _digest: False)
    assert not again.new and planted.read_bytes() == real


def test_touch_never_reaches_through_a_symlink_planted_in_the_store(
    store: ObjectStore, tmp_path: Path
) -> None:
    """Touching an object (gc's grace) writes its timestamp; a symlink planted under an
    object's name must not carry that write to its target outside the state dir."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not the store's")
    os.utime(outside, (1_000_000, 1_000_000))
    digest = digest_bytes(b"some object")
    planted = store.path_of(digest)
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(outside)
    store.touch(digest)
    assert outside.stat().st_mtime == 1_000_000
