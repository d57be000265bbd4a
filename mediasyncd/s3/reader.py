"""An S3 object as a seekable stream: one GET read as it goes, a ranged GET after a seek.

Readers of stored documents seek (a byte-order mark is looked for, then the stream is
rewound; Pillow reads an image header and jumps), so a plain response body is not
enough. Reading on from where a GET stands costs nothing; a seek outside the buffered
bytes drops that response and the next read asks for `Range: bytes=N-`. Nothing is ever
read whole into memory.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from mediasyncd.s3.client import describe, is_missing
from mediasyncd.store.digest import CHUNK_SIZE

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ObjectReader(io.RawIOBase):
    """Raw reads of one object (wrap it in `io.BufferedReader`: see `open_object`).

    A missing object raises FileNotFoundError, any other failure OSError, so callers that
    read files (verify) treat both stores alike."""

    def __init__(self, client: S3Client, bucket: str, key: str):
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._pos = 0
        self._size: int | None = None
        self._body: Any = None
        self.last_modified: float | None = None

    @property
    def where(self) -> str:
        return f"s3://{self._bucket}/{self._key}"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def start(self) -> None:
        """Send the GET now (so a missing object is reported at open, not at first read)."""
        if self._body is None and not self._at_end():
            self._get()

    def _at_end(self) -> bool:
        return self._size is not None and self._pos >= self._size

    def _get(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._pos:
                response = self._client.get_object(
                    Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-"
                )
            else:
                response = self._client.get_object(Bucket=self._bucket, Key=self._key)
        except ClientError as exc:
            if is_missing(exc):
                raise FileNotFoundError(2, "No such object", self.where) from exc
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                self._size = self._pos  # a range past the end: nothing more to read
                return
            raise OSError(describe(exc, self.where)) from exc
        except BotoCoreError as exc:
            raise OSError(describe(exc, self.where)) from exc
        self._body = response["Body"]
        self._size = self._pos + int(response["ContentLength"])
        self.last_modified = response["LastModified"].timestamp()

    def readinto(self, buffer: Any) -> int:
        if self._at_end():
            return 0
        if self._body is None:
            self._get()
            if self._body is None:
                return 0
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except Exception as exc:  # urllib3 and botocore raise several kinds mid-stream
            self._drop()
            raise OSError(describe(exc, self.where)) from exc
        if not data and not self._at_end():
            self._drop()
            raise OSError(f"{self.where}: the connection ended before the object did")
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(CHUNK_SIZE):
            chunks.append(chunk)
        return b"".join(chunks)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            if self._size is None:
                self._get()
            target = (self._size or 0) + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise OSError(22, "negative seek position")
        if target != self._pos:
            self._drop()
            self._pos = target
        return self._pos

    def _drop(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()

    def close(self) -> None:
        self._drop()
        super().close()


def open_object(client: S3Client, bucket: str, key: str) -> io.BufferedReader:
    """The object as a buffered, seekable binary stream; the GET is sent at once."""
    raw = ObjectReader(client, bucket, key)
    raw.start()
    return io.BufferedReader(raw, buffer_size=CHUNK_SIZE)
