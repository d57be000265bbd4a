"""Conversations parsed and extracted in a helper process, beside the writing process.

The first ingest of a chat-heavy export is CPU-bound in one process, and a machine has
a second core: parsing, extracting and compressing a batch of conversations is a pure
function of their bytes (mediasyncd.conversations.item), so a helper does it while the
writing process scans the next batch and writes the previous batch's objects and rows.
The index and the store are only ever written by the writing process.

The helper is `python -m mediasyncd.conversations.helper`, talking over its stdin and
stdout in length-prefixed MessagePack (msgspec, decoded into the expected types, so a
garbled reply is an error, never an object): one request, then its reply. The writer sends batch
k+1 only once it has read batch k's reply, so neither side ever waits to write while the
other is writing (two full pipes cannot deadlock). The helper exits at the end of its
input, so it goes when the writer does, even when the writer is killed. If it cannot be
started, dies or answers with an error, the batch is extracted in the writing process,
as is every later one: the result is the same, only slower.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from mediasyncd import faults
from mediasyncd.conversations.item import Extracted, extract_item

_LENGTH: Final = struct.Struct("!Q")


@dataclass(frozen=True)
class Request:
    raws: list[bytes]
    max_depth: int
    max_nodes: int
    compress: bool


@dataclass(frozen=True)
class Reply:
    results: list[Extracted] | None
    error: str | None = None


def extract_batch(request: Request) -> list[Extracted]:
    return [
        extract_item(raw, request.max_depth, request.max_nodes, compress=request.compress)
        for raw in request.raws
    ]


class Extraction:
    """Extracts batches one behind the caller: `submit` hands a batch over, `collect`
    returns its results (computed meanwhile by the helper, or now, in this process)."""

    def __init__(self, max_depth: int, max_nodes: int, *, compress: bool, helper: bool):
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.compress = compress
        self._queued: Request | None = None
        self._sent = False
        self._process: subprocess.Popen[bytes] | None = _start() if helper else None
        # Why the helper stopped being used, once it did (logged by the caller).
        self.trouble: str | None = None

    @property
    def helped(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def submit(self, raws: Sequence[bytes]) -> None:
        if self._queued is not None:
            raise RuntimeError("collect the batch before submitting another")
        self._queued = Request(list(raws), self.max_depth, self.max_nodes, self.compress)
        self._sent = False
        if self._process is not None and self._queued.raws:
            try:
                _write(self._process.stdin, self._queued)
                self._sent = True
            except (OSError, ValueError) as exc:
                self._give_up(f"cannot send to the helper: {exc}")

    def collect(self) -> list[Extracted]:
        request, self._queued = self._queued, None
        if request is None:
            return []
        if self._sent and self._process is not None:
            try:
                reply = _read(self._process.stdout)
            except (OSError, EOFError, msgspec.DecodeError, ValueError) as exc:
                self._give_up(f"no answer from the helper: {exc}")
            else:
                if reply.results is not None and len(reply.results) == len(request.raws):
                    return reply.results
                self._give_up(f"the helper failed: {reply.error!r}")
        return extract_batch(request)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _give_up(self, why: str) -> None:
        self.trouble = why
        if self._process is not None:
            self._process.kill()
        self.close()

    def __enter__(self) -> Extraction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start() -> subprocess.Popen[bytes] | None:
    # The package's own folder first on the path: the helper runs this very code, also
    # from a checkout that is not installed.
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "mediasyncd.conversations.helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
    except OSError:
        return None


_encode = msgspec.msgpack.Encoder().encode


# Built when first used: making a typed decoder costs 4 ms, which an ingest of a small
# document would pay for nothing.
@functools.cache
def _decoder(kind: type[Request] | type[Reply]) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(kind)


def _decode_request(body: bytes) -> Request:
    request: Request = _decoder(Request).decode(body)
    return request


def _write(stream: IO[bytes] | None, message: Request | Reply) -> None:
    if stream is None:
        raise ValueError("no pipe")
    body = _encode(message)
    stream.write(_LENGTH.pack(len(body)))
    stream.write(body)
    stream.flush()


def _read_body(stream: IO[bytes] | None) -> bytes:
    if stream is None:
        raise ValueError("no pipe")
    head = _read_exactly(stream, _LENGTH.size)
    (size,) = _LENGTH.unpack(head)
    return _read_exactly(stream, size)


def _read(stream: IO[bytes] | None) -> Reply:
    reply: Reply = _decoder(Reply).decode(_read_body(stream))
    return reply


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    left = size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The helper's loop: a reply to each request, until the input ends."""
    while True:
        try:
            body = _read_body(requests)
        except EOFError:
            return
        try:
            request = _decode_request(body)
        except msgspec.DecodeError as exc:
            _write(replies, Reply(None, f"not a request: {exc}"))
            continue
        try:
            reply = Reply(extract_batch(request))
        # Any failure, a bug included, goes to the writer, which redoes the batch itself
        # and so meets the same error where it is reported as always.
        except Exception as exc:  # noqa: BLE001
            reply = Reply(None, f"{type(exc).__name__}: {exc}")
        faults.point("conversations.helper_reply")
        _write(replies, reply)


if __name__ == "__main__":
    # Run from the module imported under its own name: under `-m` this file is
    # `__main__`, and its classes would not be the ones the writer pickles.
    from mediasyncd.conversations.helper import serve as _serve

    _serve(sys.stdin.buffer, sys.stdout.buffer)
