"""Local-file helpers for uploads (a path, bytes or a binary file object) and atomic streamed downloads."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

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


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file next to ``target`` and rename it into place only when complete."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


