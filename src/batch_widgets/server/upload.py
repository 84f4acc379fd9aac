"""Streaming multipart upload: the file part goes straight to disk in chunks, with a size cap checked as bytes
arrive, so a too-large upload is refused (413) before it fills the disk and no upload is ever held in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

try:
    from python_multipart.multipart import MultipartParser, parse_options_header
except ImportError:  # python-multipart < 0.0.13 named its module "multipart"
    from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]  # the same names, old home
from starlette.requests import Request

__all__ = ["UploadTooLarge", "BadUpload", "Upload", "receive_upload"]

_MAX_FIELD_BYTES = 64 * 1024  # plain form fields (purpose, expires_after[...]) are tiny


class UploadTooLarge(Exception):
    pass


class BadUpload(Exception):
    pass


@dataclass
class _Part:
    """The multipart part being parsed."""

    name: Optional[str] = None
    header: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    buf: bytearray = field(default_factory=bytearray)
    is_file: bool = False


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    filename: Optional[str] = None  # None when no file part was sent
    nbytes: int = 0


async def receive_upload(request: Request, dest: Path, max_bytes: int) -> Upload:
    """Parse ``request``'s multipart body; the part named ``file`` is written to ``dest``.

    Raises UploadTooLarge once the file passes ``max_bytes`` and BadUpload for a malformed body; ``dest`` is
    removed in both cases.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BadUpload("the upload must be multipart/form-data with a 'file' part and a 'purpose' field")
    result = Upload()
    part = _Part()
    out = open(dest, "wb")
    failure: list[Exception] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        key = part.header.lower()
        part.headers[key] = part.headers.get(key, b"") + data[start:end]

    def on_header_end() -> None:
        part.header = b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = disp.get(b"name", b"").decode("utf-8", "replace")
        part.is_file = part.name == "file"
        if part.is_file:
            raw_name = disp.get(b"filename", b"upload.jsonl").decode("utf-8", "replace")
            result.filename = os.path.basename(raw_name.replace("\\", "/"))[:255] or "upload.jsonl"

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if failure:
            return
        if part.is_file:
            result.nbytes += end - start
            if result.nbytes > max_bytes:
                failure.append(UploadTooLarge())
                return
            out.write(data[start:end])
        else:
            part.buf += data[start:end]
            if len(part.buf) > _MAX_FIELD_BYTES:
                failure.append(BadUpload(f"form field {part.name!r} is too long"))

    def on_part_end() -> None:
        nonlocal part
        if not part.is_file and part.name:
            result.fields[part.name] = bytes(part.buf).decode("utf-8", "replace")
        part = _Part()

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if failure:
                raise failure[0]
        parser.finalize()
        if failure:
            raise failure[0]
    except Exception as exc:
        out.close()
        dest.unlink(missing_ok=True)
        if isinstance(exc, (UploadTooLarge, BadUpload)):
            raise
        raise BadUpload(f"malformed multipart body: {type(exc).__name__}") from exc
    out.close()
    return result
