"""Local-file helpers: upload sources (a path, bytes or a binary file object) and resumable atomic downloads."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

import httpx

from ._network import aread_body, direct_length, read_body

DEFAULT_UPLOAD_NAME = "batch_input.jsonl"

FileInput = Union[str, "os.PathLike[str]", bytes, BinaryIO]


@contextlib.contextmanager
def upload_source(file: FileInput, filename: Optional[str]) -> Iterator[tuple[BinaryIO, str, bool]]:
    """(binary file object, file name, can it be re-read) for a path, bytes, or an open binary file."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(file)), filename or DEFAULT_UPLOAD_NAME, True
    elif isinstance(file, (str, os.PathLike)):
        path = Path(file)
        with path.open("rb") as fh:  # streamed in chunks by httpx, never read whole
            yield fh, filename or path.name, True
    elif isinstance(file, io.TextIOBase):
        raise TypeError(f"upload_file needs a binary file: open {getattr(file, 'name', 'it')!r} with mode 'rb'")
    elif hasattr(file, "read"):
        name = filename or Path(str(getattr(file, "name", "") or DEFAULT_UPLOAD_NAME)).name
        seekable = bool(getattr(file, "seekable", lambda: False)())
        yield file, name, seekable
    else:
        raise TypeError(f"upload_file takes a path, bytes or a binary file object, not {type(file).__name__}")


def download_target(file_id: str, path: Union[str, "os.PathLike[str]"]) -> Path:
    target = Path(path)
    if target.is_dir():
        target = target / f"{file_id}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


class Download:
    """A streamed download into a temporary file next to ``target``, renamed into place only when complete.

    After a dropped connection the next attempt asks only for the rest (``Range: bytes=N-``); a ``206`` answer
    from that offset is appended, anything else starts the file again. Content-encoded (e.g. gzip) answers are
    not resumed, since their byte offsets are not those of the file.
    """

    def __init__(self, file_id: str, path: Union[str, "os.PathLike[str]"]) -> None:
        self.target = download_target(file_id, path)
        fd, tmp = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".part")
        os.close(fd)
        self.tmp = Path(tmp)
        self.written = 0
        self.resumable = False

    def headers(self) -> dict[str, str]:
        return {"Range": f"bytes={self.written}-"} if self.written and self.resumable else {}

    def open(self, response: httpx.Response) -> BinaryIO:
        resumed = (
            self.resumable
            and response.status_code == 206
            and response.headers.get("content-range", "").startswith(f"bytes {self.written}-")
        )
        if not resumed:
            self.written = 0
        self.resumable = response.headers.get("content-encoding", "identity") == "identity"
        # Not "wb": truncating a file, even an empty one, makes ext4 start writing it to disk when it is closed
        # (auto_da_alloc), and deleting a 90 MB download then took 8x longer (57 ms, not 7).
        fh = self.tmp.open("ab")
        if not resumed and fh.tell():
            fh.truncate(0)
        return fh

    def write(self, fh: BinaryIO, chunk: Union[bytes, memoryview]) -> None:
        fh.write(chunk)
        self.written += len(chunk)

    def save(self, response: httpx.Response) -> Path:
        """Write the body of ``response`` to the file, then move the file into place. A plain answer of known
        length (``_network.direct_length``) is taken from h11 only for what h11 has already read; the rest comes
        straight from the connection."""
        with self.open(response) as fh:
            left = direct_length(response)
            if left is None:
                for chunk in response.iter_bytes():
                    self.write(fh, chunk)
            else:
                for chunk in response.iter_raw():  # h11's buffered part (or one read): nothing lost, nothing twice
                    self.write(fh, chunk)
                    left -= len(chunk)
                    if left:
                        read_body(response, left, lambda piece: self.write(fh, piece))
                        break
        return self.finish()

    async def asave(self, response: httpx.Response) -> Path:
        """``save`` for an async response."""
        with self.open(response) as fh:
            left = direct_length(response)
            if left is None:
                async for chunk in response.aiter_bytes():
                    self.write(fh, chunk)
            else:
                async for chunk in response.aiter_raw():
                    self.write(fh, chunk)
                    left -= len(chunk)
                    if left:
                        await aread_body(response, left, lambda piece: self.write(fh, piece))
                        break
        return self.finish()

    def finish(self) -> Path:
        os.replace(self.tmp, self.target)
        return self.target

    def discard(self) -> None:
        """Remove the partial file (nothing left to do after ``finish``)."""
        with contextlib.suppress(OSError):
            self.tmp.unlink()
