"""Builders and checks shared by the test suite: media bytes, honest and hostile zips,
tree snapshots, and the invariants every store and index must keep.

Import as `from tests.helpers import ...`. Everything here works on real files; nothing is
mocked. Fixtures that use these live in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import random
import stat
import struct
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediasyncd.index import Index
from mediasyncd.store import ObjectStore, documents
from mediasyncd.store.digest import digest_stream
from mediasyncd.store.manifest import MANIFEST_MEMBER, find_manifests

REPO_ROOT = Path(__file__).resolve().parent.parent

_MAGIC = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff\xe0",
    "gif": b"GIF89a",
    "webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "wav": b"RIFF\x00\x00\x00\x00WAVEfmt ",
    "pdf": b"%PDF-1.7\n",
}


def media_bytes(size: int, seed: int | str = 0, kind: str = "png") -> bytes:
    """`size` bytes that sniff as `kind` (png, jpeg, gif, webp, wav, pdf); random after the
    magic, so different seeds give different digests and nothing compresses."""
    magic = _MAGIC[kind]
    rng = random.Random(f"{kind}:{seed}")
    return (magic + rng.randbytes(max(0, size - len(magic))))[:size]


def write_files(root: Path, files: Mapping[str, bytes]) -> Path:
    """Create `root` holding `files` (relative '/'-separated path -> bytes); returns root."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


ZipEntry = tuple[str | zipfile.ZipInfo, bytes]


def make_zip(
    path: Path,
    entries: Mapping[str, bytes] | Iterable[ZipEntry],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a zip with `entries` in order. Names may repeat (zipfile only warns) and a
    ZipInfo may carry crafted attributes (symlink mode, odd names)."""
    items: Iterable[ZipEntry] = entries.items() if isinstance(entries, Mapping) else entries
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # zipfile warns on a duplicate name; tests build such zips on purpose.
        warnings.simplefilter("ignore", UserWarning)
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for name, data in items:
                if isinstance(name, zipfile.ZipInfo):
                    if name.compress_type == zipfile.ZIP_STORED and compression:
                        name.compress_type = compression
                    archive.writestr(name, data)
                else:
                    archive.writestr(name, data)
    return path


def zip_bytes(entries: Mapping[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """The bytes of a small zip, for nesting inside another zip."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def symlink_info(name: str) -> zipfile.ZipInfo:
    """A ZipInfo that Unix unzip would restore as a symbolic link."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def patch_bytes(path: Path, old: bytes, new: bytes, *, expected: int | None = None) -> int:
    """Replace every `old` with `new` (same length, so offsets stay valid); returns the count."""
    if len(old) != len(new):
        raise ValueError("patch must keep the length")
    data = path.read_bytes()
    count = data.count(old)
    if expected is not None and count != expected:
        raise AssertionError(f"{old!r} found {count} times in {path}, expected {expected}")
    path.write_bytes(data.replace(old, new))
    return count


@dataclass(frozen=True)
class CentralEntry:
    """One central-directory record: where it is in the file and what it says."""

    at: int
    name: bytes
    flag_bits: int
    compress_size: int
    header_offset: int


def central_entries(path: Path) -> list[CentralEntry]:
    data = path.read_bytes()
    entries = []
    at = data.find(b"PK\x01\x02")
    while at != -1:
        flags = struct.unpack_from("<H", data, at + 8)[0]
        csize = struct.unpack_from("<I", data, at + 20)[0]
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        offset = struct.unpack_from("<I", data, at + 42)[0]
        name = data[at + 46 : at + 46 + name_len]
        entries.append(CentralEntry(at, name, flags, csize, offset))
        at = data.find(b"PK\x01\x02", at + 46 + name_len + extra_len + comment_len)
    return entries


def set_central_field(path: Path, name: bytes, field: str, value: int) -> None:
    """Rewrite one field ('header_offset' or 'flag_bits') of the named central record."""
    offsets = {"header_offset": (42, "<I"), "flag_bits": (8, "<H")}
    where, fmt = offsets[field]
    data = bytearray(path.read_bytes())
    for entry in central_entries(path):
        if entry.name == name:
            struct.pack_into(fmt, data, entry.at + where, value)
            path.write_bytes(bytes(data))
            return
    raise AssertionError(f"no central record named {name!r} in {path}")


def tree_snapshot(root: Path, *, exclude: Sequence[Path] = ()) -> dict[str, tuple[int, int]]:
    """Every path under `root` (except those under `exclude`) with (size, mtime_ns), to show
    that an operation wrote nothing outside the state dir."""
    excluded = [p.resolve() for p in exclude]
    snapshot: dict[str, tuple[int, int]] = {}
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder).resolve()
        dirnames[:] = [d for d in dirnames if (here / d) not in excluded]
        for name in dirnames + filenames:
            full = Path(folder) / name
            st = full.lstat()
            size = 0 if stat.S_ISDIR(st.st_mode) else st.st_size
            snapshot[full.relative_to(root).as_posix()] = (size, st.st_mtime_ns)
    return snapshot


def manifest_digests(store: ObjectStore) -> set[str]:
    """Objects that are source manifests (they name when a drop was read, so every run of a
    changed source writes a new one; content comparisons leave them out)."""
    return set(find_manifests(store))


def content_objects(store: ObjectStore) -> set[str]:
    """Digests of every stored object that is file content, not a source manifest."""
    every = {entry.digest for entry in store.iterate() if entry.digest is not None}
    return every - manifest_digests(store)


def index_state(index: Index, store: ObjectStore) -> dict[str, Any]:
    """The index content that must not depend on how an ingest got there (no ids, runs,
    timestamps or manifests): blobs, occurrences with their source path, keys, failures,
    file cache."""
    manifests = manifest_digests(store)

    def rows(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        found = (tuple(r) for r in index.execute(sql, params).fetchall())
        return sorted(r for r in found if not (set(r) & manifests))

    return {
        "blobs": rows("SELECT digest, size, mime, kind, sha256 FROM blobs"),
        "sources": rows("SELECT path, kind, state, error, members FROM sources"),
        "occurrences": rows(
            """SELECT s.path, o.member, o.digest, o.role, o.size, o.crc32
               FROM occurrences o JOIN sources s ON s.id = o.source_id WHERE o.member != ?""",
            (MANIFEST_MEMBER,),
        ),
        "keys": rows(
            """SELECT s.path, o.member, k.key_kind, k.key, k.extra FROM occurrence_keys k
               JOIN occurrences o ON o.id = k.occurrence_id
               JOIN sources s ON s.id = o.source_id"""
        ),
        "member_failures": rows(
            """SELECT s.path, f.member, f.error FROM member_failures f
               JOIN sources s ON s.id = f.source_id"""
        ),
        "file_cache": rows("SELECT path, size, digest FROM file_cache"),
    }


def assert_store_consistent(index: Index, store: ObjectStore) -> None:
    """Every object re-hashes to its name and is read-only; every blob row and occurrence
    names an object that exists; no temp file is left."""
    assert store.temp_files() == [], f"temp files left: {store.temp_files()}"
    on_disk = set()
    for entry in store.iterate():
        path, named = Path(entry.location), entry.digest
        assert named is not None, f"a file that is no object: {path}"
        # A compressed object or a recipe is read as what it stands for.
        raw = open(path, "rb")  # noqa: SIM115 - closed with what reads it
        with documents.open_encoded(raw, entry.form, store.open) as handle:
            actual, _size = digest_stream(handle)
        assert actual == named, f"{path} holds {actual}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, f"{path} is writable"
        on_disk.add(named)
    blobs = {str(r[0]): int(r[1]) for r in index.execute("SELECT digest, size FROM blobs")}
    for digest, size in blobs.items():
        assert digest in on_disk, f"blob {digest} has no object"
        assert store.size_of(digest) == size
    for (digest,) in index.execute("SELECT DISTINCT digest FROM occurrences"):
        assert digest in blobs, f"occurrence names {digest}, which has no blob row"
    for (digest,) in index.execute("SELECT document FROM conversations"):
        assert digest is None or digest in blobs, f"a conversation names {digest}, no blob"


def remove_tree(root: Path) -> None:
    """`rm -rf` a tree of any depth (shutil.rmtree, and so pytest's own cleanup of tmp
    folders, recurses and fails on a tree 1,000 levels deep)."""
    subprocess.run(["rm", "-rf", "--", str(root)], check=True)


def run_mediasyncd(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m mediasyncd ARGS` in a real child process (for crash tests and to see
    exactly what a user sees on stderr)."""
    child_env = dict(os.environ)
    child_env.pop("MEDIASYNCD_FAULT", None)
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mediasyncd", *args],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )


def run_in_state(state: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`mediasyncd --state-dir STATE ARGS` in a child process; never a traceback."""
    done = run_mediasyncd(["--state-dir", str(state), *(str(a) for a in args)])
    assert "Traceback" not in done.stderr, done.stderr
    return done


def ingest_json(state: Path, *paths: Path) -> tuple[int, dict[str, Any]]:
    """`mediasyncd ingest --json PATHS`: the exit code and the summary."""
    done = run_in_state(state, "ingest", "--json", *paths)
    return done.returncode, json.loads(done.stdout)


def set_utf8_flags(path: Path) -> None:
    """Set the UTF-8 flag (bit 11) on every entry of a zip, local and central, whatever
    its names are: what some Windows zippers write."""
    data = bytearray(path.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at != -1:
            (flags,) = struct.unpack_from("<H", data, at + flag_at)
            struct.pack_into("<H", data, at + flag_at, flags | 0x800)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


# The `ingest --json` keys docs/architecture.md ("Contract") promises, in the order they
# are printed, written out here (not read from the code) so a renamed or moved key fails
# the tests.
INGEST_JSON_KEYS = (
    "blobs_new",
    "bytes_new",
    "blobs_deduplicated",
    "conversations_new",
    "conversations_changed",
    "rematched_conversations",
    "rematched_users",
    "matches_added",
    "matches_removed",
    "failures",
    "seconds",
    "sources",
)


# The `status --json` keys, in the order they are printed (the CLI adds `state_dir`
# last), written out here for the same reason.
STATUS_JSON_KEYS = (
    "blobs",
    "bytes",
    "conversations",
    "messages",
    "traces",
    "trace_pairs",
    "references",
    "matches",
    "orphans",
    "sources",
    "last_ingest",
    "last_error",
    "daemon",
)


def run_in_terminal(
    args: Sequence[str],
    *,
    columns: int = 100,
    rows: int = 30,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, str]:
    """`python -m mediasyncd ARGS` in a child process on a pseudo-terminal of the given
    size, as a person at a terminal runs it; returns the exit code and everything the
    terminal received (stdout and stderr, escape sequences included)."""
    import fcntl
    import pty
    import select
    import termios
    import time

    child_env = dict(os.environ)
    for name in ("MEDIASYNCD_FAULT", "COLUMNS", "LINES", "NO_COLOR", "TERM"):
        child_env.pop(name, None)
    child_env["TERM"] = "xterm-256color"
    child_env.update(env or {})
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediasyncd", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=child_env,
        cwd=REPO_ROOT,
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, b"".join(chunks).decode("utf-8", "replace")


def is_stopped(pid: int) -> bool:
    """Whether the process is stopped by a signal (state T in /proc/<pid>/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[1].split()[0] == "T"


def wait_stopped(pid: int, what: str = "the process", timeout: float = 60) -> None:
    """Until process `pid` is stopped (SIGSTOP, state T), e.g. by a `:stop` fault point."""
    import time

    deadline = time.monotonic() + timeout
    while not is_stopped(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} ({pid}) did not stop at its fault point in {timeout} s")
        time.sleep(0.02)
