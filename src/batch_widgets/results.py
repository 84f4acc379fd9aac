"""Results of a batch as one DataFrame row per request, read from the output and the error file.

Fast path: pyarrow's JSON reader with an explicit schema (inference drops error fields that appear only late in
a file), fields picked out with ``pyarrow.compute``, strings kept Arrow-backed. When pyarrow rejects a file
(a field of an unexpected type, a broken line), the same columns are built line by line instead.

Rows are joined to the input lines by ``custom_id`` (the API does not keep order); requests found in neither
file (cancelled, expired) become rows with ``status="not_executed"``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import mmap
import os
import pathlib
import re
import shutil
import tempfile
import weakref
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as paj

from .errors import NotFoundError
from .facts import NOT_EXECUTED_CODES as _NOT_EXECUTED

if TYPE_CHECKING:
    import pandas as pd

    from .models import Batch
    from .pricing import Pricing
    from .transport import AsyncBatchTransport, BatchTransport

    _Keys = concurrent.futures.Future[pa.Array]  # an input file's custom ids, handed over as soon as they are known

log = logging.getLogger("batch_widgets")

__all__ = ["RESULT_COLUMNS", "BatchResults", "read_result_file", "read_result_table"]

PathLike = Union[str, os.PathLike]

#: Columns of every results frame, in order.
RESULT_COLUMNS = (
    "custom_id",
    "status",
    "status_code",
    "ok",
    "text",
    "embedding",
    "finish_reason",
    "model",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "error_code",
    "error_message",
)
#: Line-level error codes that mean "never run" rather than "ran and failed".
NOT_EXECUTED_CODES = frozenset(_NOT_EXECUTED.values())

_S = pa.string()
_I = pa.int64()
_ERROR = pa.struct([("code", _S), ("message", _S)])
_USAGE = pa.struct(
    [
        ("prompt_tokens", _I),
        ("completion_tokens", _I),
        ("input_tokens", _I),
        ("output_tokens", _I),
        ("prompt_tokens_details", pa.struct([("cached_tokens", _I)])),
        ("input_tokens_details", pa.struct([("cached_tokens", _I)])),
        ("completion_tokens_details", pa.struct([("reasoning_tokens", _I)])),
        ("output_tokens_details", pa.struct([("reasoning_tokens", _I)])),
    ]
)
_BODY = pa.struct(
    [
        ("model", _S),
        ("status", _S),  # responses
        (
            "choices",
            pa.list_(
                pa.struct(
                    [  # chat + completions
                        ("finish_reason", _S),
                        ("text", _S),
                        ("message", pa.struct([("content", _S), ("refusal", _S)])),
                    ]
                )
            ),
        ),
        (
            "output",
            pa.list_(
                pa.struct(
                    [  # responses
                        ("type", _S),
                        ("content", pa.list_(pa.struct([("type", _S), ("text", _S)]))),
                    ]
                )
            ),
        ),
        ("incomplete_details", pa.struct([("reason", _S)])),
        ("data", pa.list_(pa.struct([("embedding", pa.list_(pa.float64()))]))),  # embeddings
        ("usage", _USAGE),
        ("error", _ERROR),  # executed but rejected: the endpoint's own error body
    ]
)
#: What we read of an output/error line; everything else is skipped by the reader.
LINE_SCHEMA = pa.schema(
    [
        ("custom_id", _S),
        ("response", pa.struct([("status_code", _I), ("body", _BODY)])),
        ("error", _ERROR),
    ]
)
_BLANKS = b" \t\r\f\v"
# Several blocks, so both cores parse; small, as the reader holds a few blocks and their parse at once (4 MiB: ~30 %
# less peak memory than 16 MiB, as fast). One line must fit in a block...
_BLOCK_SIZE = 4 << 20
_MAX_BLOCK_SIZE = 1 << 30  # ...else we retry with this
# Linux maps a whole file or region in one call with this (rather than a page fault per 4 KiB); 0 elsewhere.
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)

_RESULT_SCHEMA = pa.schema(
    [
        ("custom_id", _S),
        ("status", _S),
        ("status_code", _I),
        ("ok", pa.bool_()),
        ("text", _S),
        ("embedding", pa.list_(pa.float64())),
        ("finish_reason", _S),
        ("model", _S),
        ("input_tokens", _I),
        ("output_tokens", _I),
        ("cached_tokens", _I),
        ("reasoning_tokens", _I),
        ("error_code", _S),
        ("error_message", _S),
    ]
)


# --------------------------------------------------------------------------------------------- fast path


def _f(values: pa.Array, *names: str) -> pa.Array:
    """A nested struct field; unlike ``StructArray.field`` it keeps the parents' nulls."""
    for name in names:
        values = pc.struct_field(values, name)
    return values


def _per_chunk(function: Any, column: pa.ChunkedArray, *args: Any) -> pa.ChunkedArray:
    """``function`` (which needs one array's offsets) applied chunk by chunk."""
    return pa.chunked_array([function(chunk, *args) for chunk in column.chunks if len(chunk)])


def _offsets(array: pa.Array) -> Any:
    """The int32 offsets of a list or string array, as numpy, with the array's own slice applied."""
    import numpy as np

    return np.frombuffer(array.buffers()[1], np.int32)[array.offset : array.offset + len(array) + 1]


def _valid(array: pa.Array) -> Any:
    return array.is_valid().to_numpy(zero_copy_only=False)


def _bitmap(valid: Any) -> Optional[pa.Buffer]:
    """Arrow's validity bitmap for a numpy bool array (None: all valid)."""
    import numpy as np

    return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))


def _first(lists: pa.Array, *path: str) -> pa.Array:
    """Field ``path`` of element 0 of each list; null where the list is null or empty.

    Works on the flat child values through the offsets (in numpy: a reader block is one call each), so only the
    one leaf asked for is touched (``list_element`` fails on empty lists, and slicing lists copies every field of
    every element).
    """
    import numpy as np

    values = _f(lists.values, *path)
    offsets = _offsets(lists)
    lengths = np.diff(offsets)
    if lists.null_count:
        lengths = np.where(_valid(lists), lengths, 0)
    whole = offsets[0] == 0 and lengths.sum() == offsets[-1]  # no element hidden under a null list
    if whole and len(values) == len(lists) and (lengths == 1).all():
        return values  # one element per row: already aligned, nothing to copy
    has = lengths > 0
    if whole and pa.types.is_string(values.type) and lengths.max(initial=0) <= 1:
        # At most one element per row: the strings stay where they are (answers are most of a file); only new
        # offsets and validity are made.
        before = np.cumsum(has, dtype=np.int32)  # present elements up to and including each row
        spread = _offsets(values)[np.concatenate([np.zeros(1, np.int32), before])]
        valid = has & (_valid(values)[np.maximum(before - 1, 0)] if len(values) else False)
        data = values.buffers()[2] or pa.py_buffer(b"")
        return pa.StringArray.from_buffers(len(lists), pa.py_buffer(spread), data, _bitmap(valid))
    return pc.take(values, pa.array(np.where(has, offsets[:-1], 0), mask=~has))


def _coalesce(first: pa.Array, *others: pa.Array) -> pa.Array:
    """``pc.coalesce``, but an alternative that fills no gap is skipped: coalescing copies, and the text column
    is most of a file."""
    for other in others:
        if first.null_count == len(first):
            first = other
        elif other.null_count < len(other) and pc.any(pc.and_(pc.is_null(first), pc.is_valid(other))).as_py():
            first = pc.coalesce(first, other)
    return first


def _responses_text(output: pa.Array) -> pa.Array:
    """Concatenated ``output_text`` parts of each Responses API answer (null when there are none)."""
    items = pc.list_flatten(output)
    item_row = pc.list_parent_indices(output)
    contents = _f(items, "content")
    parts = pc.list_flatten(contents)
    part_row = pc.take(item_row, pc.list_parent_indices(contents))
    keep = pc.fill_null(pc.equal(_f(parts, "type"), "output_text"), False)
    table = pa.table({"row": pc.filter(part_row, keep), "text": pc.filter(_f(parts, "text"), keep)})
    grouped = table.group_by("row", use_threads=False).aggregate([("text", "list")])
    # Scatter the joined texts back to their rows; rows without text stay null.
    joined = pc.binary_join(grouped["text_list"].combine_chunks(), "")
    index: list[Optional[int]] = [None] * len(output)
    for slot, row in enumerate(grouped["row"].to_pylist()):
        index[row] = slot
    return pc.take(joined, pa.array(index, _I))


def _columns(table: pa.Table) -> pa.Table:
    """The result columns of a table read with :data:`LINE_SCHEMA`: each compute call runs once over all its
    record batches (small reader blocks make many)."""
    if not table.num_rows:
        return _RESULT_SCHEMA.empty_table()
    response, line_error = table.column("response"), table.column("error")
    body = _f(response, "body")
    status_code = _f(response, "status_code")
    choices = _f(body, "choices")
    output = _f(body, "output")
    text = _coalesce(_per_chunk(_first, choices, "message", "content"), _per_chunk(_first, choices, "text"))
    if pc.sum(pc.fill_null(pc.list_value_length(output), 0)).as_py():
        text = _coalesce(text, _per_chunk(_responses_text, output))
    finish = _coalesce(
        _per_chunk(_first, choices, "finish_reason"), _f(body, "incomplete_details", "reason"), _f(body, "status")
    )
    embedding = _per_chunk(_first, _f(body, "data"), "embedding")
    usage = _f(body, "usage")
    input_tokens = _coalesce(_f(usage, "prompt_tokens"), _f(usage, "input_tokens"))
    output_tokens = _coalesce(_f(usage, "completion_tokens"), _f(usage, "output_tokens"))
    cached = _coalesce(
        _f(usage, "prompt_tokens_details", "cached_tokens"), _f(usage, "input_tokens_details", "cached_tokens")
    )
    # Reasoning tokens are part of the output tokens (and billed as output); this says how many.
    reasoning = _coalesce(
        _f(usage, "completion_tokens_details", "reasoning_tokens"),
        _f(usage, "output_tokens_details", "reasoning_tokens"),
    )
    body_error = _f(body, "error")
    line_code = _f(line_error, "code")
    error_code = _coalesce(line_code, _f(body_error, "code"))
    error_message = _coalesce(_f(line_error, "message"), _f(body_error, "message"))
    success = pc.and_(pc.greater_equal(status_code, 200), pc.less(status_code, 300))
    ok = pc.fill_null(pc.and_kleene(success, pc.and_(pc.is_null(line_error), pc.is_null(body_error))), False)
    not_executed = pc.fill_null(pc.is_in(line_code, pa.array(sorted(NOT_EXECUTED_CODES), _S)), False)
    status = pc.if_else(ok, "ok", pc.if_else(not_executed, "not_executed", "error"))
    return pa.Table.from_pydict(
        {
            "custom_id": table.column("custom_id"),
            "status": status,
            "status_code": status_code,
            "ok": ok,
            "text": text,
            "embedding": embedding,
            "finish_reason": finish,
            "model": _f(body, "model"),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cached_tokens": cached,
            "reasoning_tokens": reasoning,
            "error_code": error_code,
            "error_message": error_message,
        },
        schema=_RESULT_SCHEMA,
    )


def _check_utf8(table: pa.Table) -> None:
    """Raise ``ArrowInvalid`` unless every string in ``table`` is UTF-8: pyarrow's JSON reader copies strings
    without checking (a bad byte would surface later, far from its line). ~35 ms for 46 MB of answers; it lets go
    of the GIL, so the harvest runs it beside the join."""
    for column in table.columns:
        if pa.types.is_string(column.type):
            column.validate(full=True)


def _read_json(source: Union[PathLike, pa.Buffer], schema: pa.Schema) -> pa.Table:
    """The fields of ``schema`` in each JSON line of ``source`` (a path or a buffer), others skipped; both cores
    parse, a reader block each."""
    parse = paj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")

    def read(block_size: int) -> pa.Table:
        options = paj.ReadOptions(block_size=block_size, use_threads=True)
        stream = pa.BufferReader(source) if isinstance(source, pa.Buffer) else source
        return paj.read_json(stream, read_options=options, parse_options=parse)

    try:
        return read(_BLOCK_SIZE)
    except pa.ArrowInvalid as exc:
        if "straddl" not in str(exc):
            raise
        return read(_MAX_BLOCK_SIZE)  # a line longer than a block (big embeddings): blocks that fit it


def _read_fast(path: PathLike) -> pa.Table:
    table = _read_json(path, LINE_SCHEMA)
    columns = _columns(table)  # chunk by chunk: the parsed file is never copied into one contiguous chunk
    del table
    # The parse's scratch memory goes back to the OS now rather than at the allocator's leisure: the join that
    # follows then peaks ~35 MB lower on a 90 MB output (bench_results), at no measurable cost in time.
    pa.default_memory_pool().release_unused()
    return columns


# --------------------------------------------------------------------------------------------- slow path

try:  # orjson is faster when present; the stdlib does the same job
    import orjson as _orjson

    _loads = _orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads


def _get(obj: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int):
            obj = obj[key] if -len(obj) <= key < len(obj) else None
        else:
            return None
        if obj is None:
            return None
    return obj


def _text_of(body: Any) -> Optional[str]:
    for value in (_get(body, "choices", 0, "message", "content"), _get(body, "choices", 0, "text")):
        if isinstance(value, str):
            return value
    output = _get(body, "output")
    if isinstance(output, list):
        parts = [
            part.get("text") or ""
            for item in output
            if isinstance(item, dict)
            for part in (item.get("content") or [])
            if isinstance(part, dict) and part.get("type") == "output_text"
        ]
        if parts:
            return "".join(parts)
    return None


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> Optional[str]:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _row(obj: Any, number: int, path: PathLike) -> dict:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}, line {number}: expected a JSON object")
    response = obj.get("response") if isinstance(obj.get("response"), dict) else None
    body = response.get("body") if response else None
    if isinstance(body, str):  # some gateways pass error bodies through as text
        body = {"error": {"message": body}}
    body = body if isinstance(body, dict) else None
    line_error = obj.get("error")
    if isinstance(line_error, str):
        line_error = {"message": line_error}
    line_error = line_error if isinstance(line_error, dict) else None
    body_error = _get(body, "error")
    body_error = body_error if isinstance(body_error, dict) else ({"message": body_error} if body_error else None)
    status_code = _int(_get(response, "status_code"))
    ok = line_error is None and body_error is None and status_code is not None and 200 <= status_code < 300
    line_code = _str(_get(line_error, "code"))
    embedding = _get(body, "data", 0, "embedding")
    usage = _get(body, "usage")
    first = lambda *alternatives: next((v for v in alternatives if v is not None), None)  # noqa: E731 - a one-line local helper
    return {
        "custom_id": _str(obj.get("custom_id")),
        "status": "ok" if ok else ("not_executed" if line_code in NOT_EXECUTED_CODES else "error"),
        "status_code": status_code,
        "ok": ok,
        "text": _text_of(body),
        "embedding": [float(x) for x in embedding] if isinstance(embedding, list) else None,
        "finish_reason": _str(
            first(
                _get(body, "choices", 0, "finish_reason"),
                _get(body, "incomplete_details", "reason"),
                _get(body, "status"),
            )
        ),
        "model": _str(_get(body, "model")),
        "input_tokens": _int(first(_get(usage, "prompt_tokens"), _get(usage, "input_tokens"))),
        "output_tokens": _int(first(_get(usage, "completion_tokens"), _get(usage, "output_tokens"))),
        "cached_tokens": _int(
            first(
                _get(usage, "prompt_tokens_details", "cached_tokens"),
                _get(usage, "input_tokens_details", "cached_tokens"),
            )
        ),
        "reasoning_tokens": _int(
            first(
                _get(usage, "completion_tokens_details", "reasoning_tokens"),
                _get(usage, "output_tokens_details", "reasoning_tokens"),
            )
        ),
        "error_code": first(line_code, _str(_get(body_error, "code"))),
        "error_message": _str(first(_get(line_error, "message"), _get(body_error, "message"))),
    }


def _read_slow(path: PathLike) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in RESULT_COLUMNS}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = _loads(raw)
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: not valid JSON ({exc})") from None
            for name, value in _row(obj, number, path).items():
                columns[name].append(value)
    return pa.table(columns, schema=_RESULT_SCHEMA)


def _only_objects(path: PathLike) -> bool:
    """True if every non-blank line starts like a JSON object. pyarrow's reader segfaults (kills the kernel) on
    a line holding just ``null`` at the start of a block, so such files must never reach it. One C ``find`` per
    line over a read-only mapping of the file: no copy of it (reading it in pieces cost as much as the scan), and
    the mapping is gone when this returns (a file in use elsewhere stays deletable)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if not size:
            return True
        if _POPULATE:
            data = mmap.mmap(fh.fileno(), size, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ)
        else:
            data = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ)
    with data:
        find, start = data.find, 0
        while start < size:
            at = start
            while at < size and data[at] in _BLANKS:
                at += 1
            if at < size and data[at] not in b"{\n":
                return False
            start = find(b"\n", at) + 1
            if not start:
                break
    return True


def read_result_table(path: PathLike, *, fast: bool = True) -> pa.Table:
    """The result columns of one output or error file as an Arrow table (fast path, else line by line)."""
    return _read_result_table(path, fast=fast, check=True)


def _read_result_table(path: PathLike, *, fast: bool, check: bool) -> pa.Table:
    """:func:`read_result_table`; with ``check=False`` the fast path's UTF-8 check is left to the caller."""
    if os.path.getsize(path) == 0:
        return _RESULT_SCHEMA.empty_table()
    if fast and not _only_objects(path):
        fast = False  # the line-by-line reader reports the bad line by number
    if fast:
        try:
            table = _read_fast(path)
            if check:
                _check_utf8(table)
            return table
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            log.info("batch_widgets: pyarrow could not read %s (%s); reading it line by line", path, exc)
    return _read_slow(path)


def _to_pandas(table: pa.Table) -> "pd.DataFrame":
    import pandas as pd

    # Arrow-backed strings (not Python objects): half the time and memory of object columns.
    # Integer columns as nullable Int64 (rows without a response have no status code or tokens).
    mapping = {
        pa.string(): pd.StringDtype("pyarrow"),
        pa.large_string(): pd.StringDtype("pyarrow"),
        pa.int64(): pd.Int64Dtype(),
    }
    return table.to_pandas(types_mapper=mapping.get, self_destruct=True, split_blocks=True)


def read_result_file(path: PathLike, *, fast: bool = True) -> "pd.DataFrame":
    """One output or error file as a results DataFrame (no join with the inputs)."""
    return _to_pandas(read_result_table(path, fast=fast))


# --------------------------------------------------------------------------------------------- input lines

_INPUT_SCHEMA = pa.schema([("custom_id", _S), ("input", _S), ("body", _S)])
#: What we read of a request body: only what the ``input`` column shows (see :func:`_prompt_of`).
_BODY_PROMPT = pa.schema(
    [
        ("messages", pa.list_(pa.struct([("content", _S)]))),
        ("input", _S),
        ("prompt", _S),
    ]
)
_BODY_KEY = b'"body":'


def read_input_table(path: PathLike, *, fast: bool = True, keys: Optional[_Keys] = None) -> pa.Table:
    """``custom_id``, ``input`` and ``body`` (the body's JSON text as in the file) of every input line. ``keys``,
    when given, gets the custom ids as soon as they are known (before the bodies are read, on the fast path)."""
    if fast:
        try:
            table = _read_inputs_fast(path, keys)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            log.info("batch_widgets: pyarrow could not read %s (%s); reading it line by line", path, exc)
        else:
            if table is not None:
                return table
    return _read_inputs_slow(path)


def _fresh_memory(size: int) -> mmap.mmap:
    """Anonymous memory for a whole file: unlike ``bytearray(size)`` not zeroed in a pass of its own, and on Linux
    mapped in one call (``MAP_POPULATE``: ~40 % less time than a page fault per 4 KiB page, measured on 200 MB)."""
    if _POPULATE:
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _POPULATE)
    return mmap.mmap(-1, size)


def _private_copy(path: PathLike, size: int) -> Optional[mmap.mmap]:
    """The file's first ``size`` bytes in writable memory of our own. On Linux a private mapping of the file,
    populated: the kernel copies the page cache straight into it (no zeroing pass first, ~1/3 less time than
    reading into fresh memory), and later changes to the file do not reach it. Elsewhere, read into fresh memory."""
    with open(path, "rb", buffering=0) as fh:
        if _POPULATE:
            if os.fstat(fh.fileno()).st_size < size:
                return None
            flags, prot = mmap.MAP_PRIVATE | _POPULATE, mmap.PROT_READ | mmap.PROT_WRITE
            return mmap.mmap(fh.fileno(), size, flags=flags, prot=prot)
        data = _fresh_memory(size)
        return data if fh.readinto(data) == size else None


def _line_bounds(data: Union[bytes, bytearray, mmap.mmap]) -> tuple[Any, Any]:
    """Start and end (newline excluded) of every line, as int64 arrays (a C ``find`` per line)."""
    import numpy as np

    ends = []
    find, at = data.find, data.find(b"\n")
    while at != -1:
        ends.append(at)
        at = find(b"\n", at + 1)
    if not ends or ends[-1] != len(data) - 1:
        ends.append(len(data))  # a last line without a newline
    end = np.array(ends, dtype=np.int64)
    start = np.empty_like(end)
    start[0], start[1:] = 0, end[:-1] + 1
    return start, end


def _spans(data: Any, start: Any, end: Any) -> pa.StringArray:
    """``data[start[i]:end[i]]`` for every i, as one string array (the spans must be in order, not overlapping).

    Views the spans and the gaps between them as one array over ``data``, then keeps every other element: a
    single copy in C, no Python object per span."""
    import numpy as np

    offsets = np.empty(2 * len(start) + 1, dtype=np.int64)
    offsets[0:-1:2], offsets[1::2] = start, end
    offsets[-1] = end[-1] if len(end) else 0
    if offsets[-1] >= 1 << 31:
        raise pa.ArrowInvalid("input file too large for the fast path")
    views = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pc.take(views, pa.array(np.arange(0, len(views), 2)))


def _read_inputs_fast(path: PathLike, keys: Optional[_Keys] = None) -> Optional[pa.Table]:
    """Input lines read with pyarrow, never one Python object per line. ``None`` when a line does not have the
    usual shape (``{"custom_id": ..., ..., "body": {...}}`` with ``body`` last), for the line-by-line reader.

    Each line is cut in two at its ``"body":`` key: the head (``{"custom_id": ..., "body":`` + ``null}``) is
    parsed for the custom id; the body's bytes are kept as its text and parsed, in place, for the prompt. Both
    parses reject any cut that is not at the top level of the line (a ``"body":`` inside a string or object
    leaves the head or the body invalid JSON)."""
    import numpy as np

    size = os.path.getsize(path)
    if size == 0:
        return _INPUT_SCHEMA.empty_table()
    data = _private_copy(path, size)
    if data is None:
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    start, end = _line_bounds(data)
    for blank in _BLANKS:  # trailing blanks (and \r) are not part of the line
        while True:
            trail = (end > start) & (raw[np.maximum(end - 1, 0)] == blank)
            if not trail.any():
                break
            end = end - trail
    # Where '"body":' is in each line, looked for in a zero-copy view of the lines (each with what follows it).
    if len(data) >= 1 << 31:
        return None
    views = pa.StringArray.from_buffers(
        len(start), pa.py_buffer(np.append(start, len(data)).astype(np.int32)), pa.py_buffer(data)
    )
    key = pc.find_substring(views, _BODY_KEY.decode()).to_numpy()
    del views
    keep = end > start
    if not keep.all():
        start, end, key = start[keep], end[keep], key[keep]
        if not len(start):
            return _INPUT_SCHEMA.empty_table()
    if (key < 0).any() or (key >= end - start).any() or (raw[end - 1] != ord("}")).any():
        return None
    body_start, body_end = start + key + len(_BODY_KEY), end - 1
    for blank in _BLANKS:  # allow '"body": {' and '} }'
        while (step := raw[body_start] == blank).any():
            body_start = body_start + step
        while (step := raw[body_end - 1] == blank).any():
            body_end = body_end - step
    # Each body is parsed on a line of its own: it must open and close like an object.
    if (body_end <= body_start).any() or (raw[body_start] != ord("{")).any() or (raw[body_end - 1] != ord("}")).any():
        return None
    # The heads, closed as '... "body":null}', one per line: their custom_id.
    heads = pc.binary_join_element_wise(_spans(data, start, body_start), "}\n", "null")
    heads.validate(full=True)  # UTF-8 (the bodies are checked as they are read)
    offsets = _offsets(heads)
    ids = paj.read_json(
        pa.BufferReader(heads.buffers()[2][offsets[0] : offsets[-1]]),
        parse_options=paj.ParseOptions(
            explicit_schema=pa.schema([("custom_id", _S)]), unexpected_field_behavior="ignore"
        ),
    )["custom_id"].combine_chunks()
    if len(ids) != len(start) or ids.null_count:
        return None
    if keys is not None:
        keys.set_result(ids)  # the answers can be put in input order while the bodies are read
    # Two halves of the lines at once (most of the work is pyarrow's or memmove, which let go of the GIL).
    half = len(start) // 2 if size >= _TWO_PARTS_FROM else 0
    parts = [slice(0, half), slice(half, len(start))] if half else [slice(0, len(start))]
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="batch_widgets-inputs") as pool:
        later = [pool.submit(_read_input_part, data, int(start[p][0]), body_start[p], body_end[p]) for p in parts[1:]]
        read = [_read_input_part(data, int(start[0]), body_start[parts[0]], body_end[parts[0]])]
        read += [future.result() for future in later]
    prompts, bodies = zip(*read, strict=True)
    body = pa.chunked_array([chunk for part in bodies for chunk in part.chunks], _S)
    prompt = pa.chunked_array([chunk for part in prompts for chunk in part.chunks], _S)
    columns = {"custom_id": ids, "input": prompt, "body": body}
    return pa.table(columns, schema=_INPUT_SCHEMA)


# Input files from this size on are read in two parts at once.
_TWO_PARTS_FROM = 8 << 20


def _read_input_part(
    data: mmap.mmap, first: int, body_start: Any, body_end: Any
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Prompts and bodies of the lines from byte ``first`` on (in order, next to each other) whose bodies are
    ``data[body_start[i]:body_end[i]]``; raises ``ArrowInvalid`` when the bodies are not one JSON object each."""
    import numpy as np

    # Slide the bodies to the front of the part, one memmove each, in place (fresh memory costs page faults on
    # these machines), each followed by a newline, and parse them there. No JSON string holds a raw newline, so
    # a body that starts with "{" and ends with "}" on its own line is exactly one object, or the parse fails.
    lengths = body_end - body_start
    ends = np.cumsum(lengths)
    lines = first + ends - lengths + np.arange(len(lengths))
    move = data.move
    for at, lo, length in zip(lines.tolist(), body_start.tolist(), lengths.tolist(), strict=True):
        move(at, lo, length)
    np.frombuffer(data, np.uint8)[lines + lengths] = ord("\n")
    buffer = pa.py_buffer(data)
    parsed = _read_json_lines(buffer[first : int(lines[-1] + lengths[-1]) + 1], _BODY_PROMPT, len(lengths))
    # Then close the newlines up (the parse keeps no view of these bytes): the text is the body column.
    for at, lo, length in zip((first + ends - lengths).tolist(), lines.tolist(), lengths.tolist(), strict=True):
        move(at, lo, length)
    offsets = pa.py_buffer(np.append(0, ends).astype(np.int32))
    body = pa.StringArray.from_buffers(len(lengths), offsets, buffer[first : first + int(ends[-1])])
    body.validate(full=True)  # UTF-8: the JSON reader does not check it
    return _prompt_column(parsed), pa.chunked_array([body], _S)


def _read_json_lines(buffer: pa.Buffer, schema: pa.Schema, rows: int) -> pa.Table:
    table = _read_json(buffer, schema)
    if table.num_rows != rows:
        raise pa.ArrowInvalid(f"expected {rows} bodies, read {table.num_rows}")
    return table


def _prompt_column(bodies: pa.Table) -> pa.ChunkedArray:
    """:func:`_prompt_of` over parsed bodies: the last message's text, else ``input``, else ``prompt``. Long texts
    are kept where the parse put them (see :func:`_keep_in_place`), short ones placed by :func:`_place_strings`."""
    import numpy as np

    contents, rows = [], []
    for messages in bodies.column("messages").chunks:
        offsets = _offsets(messages)
        has = np.diff(offsets) > 0
        if messages.null_count:
            has &= _valid(messages)
        rows.append(np.where(has, offsets[1:] - 1, -1))
        contents.append(_f(messages.values, "content"))
    total = sum(len(r) for r in rows)
    if all((r >= 0).all() for r in rows) and sum(c.nbytes for c in contents) >= _GATHER_BYTES_PER_ROW * total:
        kept = [_keep_in_place(content, last) for content, last in zip(contents, rows, strict=True)]
        return pa.chunked_array(kept, _S)
    bases = np.cumsum([0] + [len(c) for c in contents[:-1]])
    last = np.concatenate([np.where(r >= 0, r + base, -1) for r, base in zip(rows, bases, strict=True)])
    prompt = _place_strings(pa.chunked_array(contents, _S), last) if total else pa.nulls(0, _S)
    if (last < 0).any():  # no messages: the input or the prompt
        fallback = pc.coalesce(bodies.column("input"), bodies.column("prompt")).combine_chunks()
        prompt = pc.if_else(pa.array(last >= 0), prompt, fallback)
    return pa.chunked_array([prompt], _S)


def _keep_in_place(strings: pa.StringArray, rows: Any) -> pa.StringArray:
    """``strings[rows]`` (rows increasing) moved to the front of ``strings``' own text buffer, which the caller owns
    and reads no more: no new memory (fresh memory costs a page fault per 4 KiB here), one memmove a row."""
    import numpy as np

    offsets, data = _offsets(strings), strings.buffers()[2]
    valid = _valid(strings)[rows]
    start = offsets[rows]
    length = np.where(valid, offsets[rows + 1] - start, 0)
    # Moved within the array's own bytes, from its first string on (a buffer may start with another array's).
    into = offsets[0] + np.concatenate([np.zeros(1, np.int64), np.cumsum(length)])
    if into[-1] > into[0]:
        view = memoryview(data).cast("B")  # overlapping moves are safe: memoryview copies through a buffer then
        for at, lo, size in zip(into[:-1].tolist(), start.tolist(), length.tolist(), strict=True):
            view[at : at + size] = view[lo : lo + size]
        view.release()
    data = data if data is not None else pa.py_buffer(b"")
    return pa.StringArray.from_buffers(len(rows), pa.py_buffer(into.astype(np.int32)), data, _bitmap(valid))


_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, at: int) -> int:
    """The first position at or after ``at`` that is not JSON whitespace."""
    match = _WHITESPACE.match(text, at)
    return match.end() if match is not None else at  # never None: the pattern matches the empty string


def _value_span(text: str, name: str) -> Optional[tuple[int, int]]:
    """Where the value of top-level key ``name`` is in the JSON object ``text`` (the last one, as json.loads
    keeps), walking the object member by member with the stdlib's scanner."""
    found = None
    at = _skip(text, _skip(text, 0) + 1)  # past "{"
    if text[at] == "}":
        return None
    while True:
        key, at = json.decoder.scanstring(text, at + 1)  # type: ignore[attr-defined]  # typeshed omits it
        at = _skip(text, _skip(text, at) + 1)  # past ":"
        _, value_end = _DECODER.scan_once(text, at)  # type: ignore[attr-defined]  # typeshed omits it
        if key == name:
            found = (at, value_end)
        at = _skip(text, value_end)
        if text[at] == "}":
            return found
        at = _skip(text, at + 1)  # past ","


def _read_inputs_slow(path: PathLike) -> pa.Table:
    """The line-by-line reader of input lines (the reference the fast one is tested against)."""
    ids: list[str] = []
    prompts: list[Optional[str]] = []
    bodies: list[Optional[str]] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
                obj = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: not valid JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object")
            span = _value_span(text, "body")
            ids.append(str(obj.get("custom_id")))
            prompts.append(_prompt_of(obj.get("body")))
            bodies.append(text[span[0] : span[1]] if span else None)
    return pa.table({"custom_id": ids, "input": prompts, "body": bodies}, schema=_INPUT_SCHEMA)


def _input_table_of(lines: Iterable[Mapping[str, Any]]) -> pa.Table:
    """The same columns for input lines given as dicts (bodies as compact JSON, as :func:`encode_line` writes)."""
    ids, prompts, bodies = [], [], []
    for line in lines:
        body = line.get("body")
        ids.append(str(line.get("custom_id")))
        prompts.append(_prompt_of(body))
        bodies.append(None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    return pa.table({"custom_id": ids, "input": prompts, "body": bodies}, schema=_INPUT_SCHEMA)


# --------------------------------------------------------------------------------------------- the join

_FRAME_SCHEMA = pa.schema([*_RESULT_SCHEMA, _INPUT_SCHEMA.field("input"), _INPUT_SCHEMA.field("body")])


# Long strings are gathered slice by slice (~0.5 us a row) instead of by pyarrow's take, which joins the chunks
# into one copy first (~1 ns a byte with its page faults, and the column's size again in memory): past this mean
# size per row the slices are cheaper.
_GATHER_BYTES_PER_ROW = 512


def _place_strings(column: pa.ChunkedArray, rows: Any) -> pa.Array:
    """``column[rows]`` (row -1: null) as one string array: by slices when the strings are long, else by take.

    Slices also keep a large column out of pyarrow's allocator, whose huge pages can stall on the kernel's
    compaction (a 190 MB take of prompts: 0.6 s, 0.5 s of it kernel time; sliced: ~0.1 s)."""
    if not column.num_chunks:
        return pa.nulls(len(rows), _S)
    if column.nbytes >= _GATHER_BYTES_PER_ROW * max(len(rows), 1):
        return _gather_strings(column, rows)
    return column.take(pa.array(rows, mask=rows < 0)).combine_chunks()


def _gather_strings(column: pa.ChunkedArray, rows: Any) -> pa.StringArray:
    """``column[rows]`` (row -1: null) as one string array, each string copied once, straight from its chunk."""
    import numpy as np

    sources, starts, ends, valid = [], [], [], []
    for chunk in column.chunks:
        offsets, data = _offsets(chunk), chunk.buffers()[2]
        sources.append(memoryview(data if data is not None else b"").cast("B"))
        starts.append(offsets[:-1])
        ends.append(offsets[1:])
        valid.append(_valid(chunk))
    chunk_of = np.repeat(np.arange(len(sources)), [len(c) for c in column.chunks])
    start, end = np.concatenate(starts)[rows], np.concatenate(ends)[rows]
    present = (rows >= 0) & np.concatenate(valid)[rows]
    length = np.where(present, end - start, 0)
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(length, out=offsets[1:])
    if offsets[-1] >= 1 << 31:
        return column.take(pa.array(rows, mask=rows < 0)).combine_chunks()
    total = int(offsets[-1])
    data = _fresh_memory(total) if total else b""  # mapped in one call: ~40 % less than a fault per page
    if total:
        view = memoryview(data)
        picked = zip(
            chunk_of[rows[present]].tolist(),
            start[present].tolist(),
            end[present].tolist(),
            offsets[:-1][present].tolist(),
            strict=True,
        )
        for c, a, b, at in picked:
            view[at : at + b - a] = sources[c][a:b]
        view.release()
    return pa.StringArray.from_buffers(
        len(rows),
        pa.py_buffer(offsets.astype(np.int32)),
        pa.py_buffer(data),
        _bitmap(present),
    )


@dataclasses.dataclass
class _Placed:
    """Result columns in input order (see :func:`_place_results`), waiting for the input columns."""

    columns: dict[str, Any]
    extra: Optional[dict[str, Any]]  # result lines whose custom_id is no input's
    input_take: Any  # the input row of each row, or None: the input rows as they are

    def with_inputs(self, inputs: pa.Table) -> pa.Table:
        columns = dict(self.columns)
        for name in ("input", "body"):
            column = inputs[name]
            columns[name] = column if self.input_take is None else column.take(pa.array(self.input_take))
        table = pa.table(columns, schema=_FRAME_SCHEMA)
        if self.extra:  # result lines whose custom_id is not an input (should not happen; keep them visible)
            rows = len(next(iter(self.extra.values())))
            extra = pa.table(
                {**self.extra, "input": pa.nulls(rows, _S), "body": pa.nulls(rows, _S)}, schema=_FRAME_SCHEMA
            )
            table = pa.concat_tables([table, extra])
        return table


def _place_results(results: pa.Table, keys: pa.Array, missing: str) -> _Placed:
    """The result rows in the order of the input rows whose custom ids are ``keys`` (a left join on ``custom_id``,
    as pandas' merge: an input matched by several result lines gets one row each); inputs with no result line get
    ``status=missing``; result lines matching no input come last. Keys are dictionary codes, all in numpy."""
    import numpy as np

    result_ids = results["custom_id"].combine_chunks()
    columns = {name: results[name] for name in _RESULT_SCHEMA.names}
    del results  # each parsed column goes as soon as it is placed (and checked: see BatchResults._build)
    unique = pc.unique(keys)
    input_code = pc.index_in(keys, value_set=unique).to_numpy()
    result_code = pc.fill_null(pc.index_in(result_ids, value_set=unique), -1).to_numpy()
    matched = result_code >= 0
    matched_rows = np.flatnonzero(matched)
    codes = result_code[matched]
    by_code = matched_rows[np.argsort(codes, kind="stable")]  # result rows grouped by key, file order kept
    count = np.bincount(codes, minlength=len(unique))
    first = np.cumsum(count) - count
    per_input = count[input_code]
    repeat = np.maximum(per_input, 1)
    input_take = np.repeat(np.arange(len(keys)), repeat)
    slot = np.arange(len(input_take)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    has = np.repeat(per_input > 0, repeat)
    result_take = np.where(
        has,
        by_code[np.minimum(np.repeat(first[input_code], repeat) + slot, max(len(by_code) - 1, 0))]
        if len(by_code)
        else 0,
        -1,
    )
    extra = np.flatnonzero(~matched)
    inputs_in_place = len(input_take) == len(keys)  # no input repeated: input rows stay as they are
    in_order = (
        not len(extra)
        and len(input_take) == len(result_ids)
        and bool(has.all())
        and bool((result_take == np.arange(len(result_take))).all())
    )
    take = pa.array(np.where(has, result_take, 0), mask=~has)
    joined, rest = {}, {}
    for name in _RESULT_SCHEMA.names:
        column = columns.pop(name)
        if in_order:
            joined[name] = column
        elif pa.types.is_string(column.type):
            joined[name] = _place_strings(column, result_take)
        else:
            joined[name] = column.take(take)
        rest[name] = column.take(pa.array(extra)) if len(extra) else None
        del column
    absent = pa.array(~has)
    joined["custom_id"] = keys if inputs_in_place else keys.take(pa.array(input_take))
    joined["status"] = pc.if_else(absent, missing, joined["status"])
    joined["ok"] = pc.if_else(absent, False, joined["ok"])
    return _Placed(joined, rest if len(extra) else None, None if inputs_in_place else input_take)


def _join_slow(inputs: pa.Table, results: pa.Table, missing: str) -> pa.Table:
    """The whole join, one row at a time with a dict (the reference :func:`_place_results` is tested against)."""
    result_rows = results.to_pylist()
    by_id: dict[str, list[dict]] = {}
    for row in result_rows:
        by_id.setdefault(row["custom_id"], []).append(row)
    empty = dict.fromkeys(_RESULT_SCHEMA.names)
    rows = []
    for line in inputs.to_pylist():
        for row in by_id.get(line["custom_id"]) or [{**empty, "status": missing, "ok": False}]:
            rows.append({**row, "custom_id": line["custom_id"], "input": line["input"], "body": line["body"]})
    known = set(inputs["custom_id"].to_pylist())
    rows += [{**row, "input": None, "body": None} for row in result_rows if row["custom_id"] not in known]
    return pa.Table.from_pylist(rows, schema=_FRAME_SCHEMA)


class _Downloads:
    """Where a batch's result files go, and what a missing one means: the same for the sync and async client."""

    _FIELDS = {"output": "output_file_id", "errors": "error_file_id", "input": "input_file_id"}

    def __init__(self, batch: "Batch", directory: Optional[PathLike], include_inputs: bool) -> None:
        if batch.status == "failed" and not batch.output_file_id and not batch.error_file_id:
            raise _failed(batch)  # its input file may not even parse: say why the batch failed instead
        if batch.is_active:
            log.warning(
                "batch_widgets: %s is still %s; its results are incomplete (requests not yet run read "
                "status 'pending')",
                batch.id,
                batch.status,
            )
        self.batch, self.include_inputs = batch, include_inputs
        self.tempdir: Optional[str] = None
        if directory is None:
            directory = self.tempdir = tempfile.mkdtemp(prefix=f"{batch.id}_")
        self.folder = pathlib.Path(directory)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._paths: dict[str, Optional[pathlib.Path]] = {}

    def wanted(self) -> list[tuple[str, str, pathlib.Path]]:
        kinds = ("output", "errors", "input") if self.include_inputs else ("output", "errors")
        return [
            (kind, file_id, self.folder / f"{self.batch.id}_{kind}.jsonl")
            for kind in kinds
            if (file_id := getattr(self.batch, self._FIELDS[kind]))
        ]

    def got(self, kind: str, path: pathlib.Path) -> None:
        self._paths[kind] = path

    def gone(self, kind: str, exc: NotFoundError) -> None:
        batch = self.batch
        if kind == "input":  # input files expire; results still stand without them
            log.warning(
                "batch_widgets: input file %s of %s is gone; results are not joined to inputs",
                batch.input_file_id,
                batch.id,
            )
            return
        if self.tempdir:
            shutil.rmtree(self.tempdir, ignore_errors=True)
        raise NotFoundError(
            f"a result file of batch {batch.id} is gone ({exc.message}); providers delete output and error "
            "files some days after the batch ends (OpenAI: 30 days, or output_expires_after)",
            status=exc.status,
            code=exc.code,
            type=exc.type,
            request_id=exc.request_id,
        ) from exc

    def paths(self) -> tuple[Optional[pathlib.Path], Optional[pathlib.Path], Optional[pathlib.Path]]:
        return self._paths.get("output"), self._paths.get("errors"), self._paths.get("input")


# --------------------------------------------------------------------------------------------- BatchResults


class BatchResults:
    """The outcome of one batch: output + error file, joined to the input lines by ``custom_id``."""

    def __init__(
        self,
        output_file: Optional[PathLike] = None,
        error_file: Optional[PathLike] = None,
        input_file: Optional[PathLike] = None,
        *,
        inputs: Optional[Iterable[Mapping[str, Any]]] = None,
        batch: Optional["Batch"] = None,
        fast: bool = True,
        _tempdir: Optional[str] = None,
    ) -> None:
        self.output_file = pathlib.Path(output_file) if output_file else None
        self.error_file = pathlib.Path(error_file) if error_file else None
        self.input_file = pathlib.Path(input_file) if input_file else None
        self.batch = batch
        self._inputs = list(inputs) if inputs is not None else None
        self._fast = fast
        self._frames: dict[bool, "pd.DataFrame"] = {}  # with / without the input columns
        self._tempdir = _tempdir
        if _tempdir:  # downloaded files go when the results object does
            self._finalizer = weakref.finalize(self, shutil.rmtree, _tempdir, True)

    @classmethod
    def from_batch(
        cls,
        client: "BatchTransport",
        batch: Union[str, "Batch"],
        *,
        directory: Optional[PathLike] = None,
        include_inputs: bool = True,
        fast: bool = True,
    ) -> "BatchResults":
        """Download a batch's output, error (and input) files, streamed to disk, and wrap them."""
        if isinstance(batch, str):
            batch = client.retrieve_batch(batch)
        plan = _Downloads(batch, directory, include_inputs)
        for kind, file_id, path in plan.wanted():
            try:
                plan.got(kind, client.download_file(file_id, path))
            except NotFoundError as exc:
                plan.gone(kind, exc)
        return cls(*plan.paths(), batch=batch, fast=fast, _tempdir=plan.tempdir)

    @classmethod
    async def afrom_batch(
        cls,
        client: "AsyncBatchTransport",
        batch: Union[str, "Batch"],
        *,
        directory: Optional[PathLike] = None,
        include_inputs: bool = True,
        fast: bool = True,
    ) -> "BatchResults":
        """``from_batch`` with an async client."""
        if isinstance(batch, str):
            batch = await client.retrieve_batch(batch)
        plan = _Downloads(batch, directory, include_inputs)
        for kind, file_id, path in plan.wanted():
            try:
                plan.got(kind, await client.download_file(file_id, path))
            except NotFoundError as exc:
                plan.gone(kind, exc)
        return cls(*plan.paths(), batch=batch, fast=fast, _tempdir=plan.tempdir)

    # -- inputs
    @property
    def inputs(self) -> Optional[list[Mapping[str, Any]]]:
        """The input lines (dicts) in file order, or ``None`` when the input file is not available."""
        if self._inputs is None and self.input_file is not None:
            from .jsonl import read_jsonl

            self._inputs = list(read_jsonl(self.input_file))  # typed as the Mappings a caller may pass
        return self._inputs

    def _input_table(self, keys: Optional[_Keys] = None) -> Optional[pa.Table]:
        """``custom_id``, ``input`` (the prompt) and ``body`` (its JSON text) of each input line, in order;
        ``keys`` gets the custom ids as soon as they are known, whichever way the inputs are read."""
        try:
            if self._inputs is not None:
                table = _input_table_of(self._inputs)
            elif self.input_file is None:
                return None
            else:
                table = read_input_table(self.input_file, fast=self._fast, keys=keys)
        except BaseException as exc:
            if keys is not None and not keys.done():
                keys.set_exception(exc)
            raise
        if keys is not None and not keys.done():
            keys.set_result(table["custom_id"].combine_chunks())
        return table

    # -- the frame
    def to_dataframe(self, *, include_inputs: bool = True) -> "pd.DataFrame":
        """One row per request (columns :data:`RESULT_COLUMNS`, then ``input`` and ``body`` from the inputs).

        With the inputs known, rows come in input-file order and requests in neither result file are rows with
        ``status="not_executed"`` (``"pending"`` while the batch is still running); without them (or with
        ``include_inputs=False``), rows are the result lines. ``body`` is each request body's JSON text as the
        input file has it. The frame is computed once and cached; a copy is returned.
        """
        key = include_inputs and (self._inputs is not None or self.input_file is not None)
        if key not in self._frames:
            self._frames[key] = self._build(key)
        return self._frames[key].copy()

    def _results_table(self, *, fast: Optional[bool] = None, check: bool = True) -> pa.Table:
        fast = self._fast if fast is None else fast
        files = (self.output_file, self.error_file)
        tables = [_read_result_table(p, fast=fast, check=check) for p in files if p]
        return pa.concat_tables(tables) if tables else _RESULT_SCHEMA.empty_table()

    def _build(self, include_inputs: bool) -> "pd.DataFrame":
        if not include_inputs or (self._inputs is None and self.input_file is None):
            return _to_pandas(self._results_table())
        # The inputs are read on a second thread while the results are read here: both readers spend much of
        # their time in pyarrow and numpy, which let go of the GIL (~30 % off the whole harvest on 2 cores).
        missing = "pending" if self.batch is not None and self.batch.is_active else "not_executed"
        keys: _Keys = concurrent.futures.Future()
        with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="batch_widgets-harvest") as pool:
            reading = pool.submit(self._input_table, keys)
            if not self._fast:
                return _to_pandas(_join_slow(results=self._results_table(), inputs=reading.result(), missing=missing))
            # The answers go into input order as soon as the input file's custom ids are known, while its bodies
            # are still being read (with long prompts that is most of the wait). Their UTF-8 check runs beside
            # that, on the pool's other thread (it lets go of the GIL; ~35 ms for 46 MB of answers).
            results = self._results_table(check=False)
            checked = pool.submit(_check_utf8, results)
            placed = _place_results(results=results, keys=keys.result(), missing=missing)
            del results  # each parsed column goes once placed and checked
            try:
                checked.result()
            except pa.ArrowInvalid:  # a string that is not UTF-8: the line-by-line reader names its line
                slow = self._results_table(fast=False)
                return _to_pandas(_join_slow(results=slow, inputs=reading.result(), missing=missing))
            return _to_pandas(placed.with_inputs(reading.result()))

    def join(self, frame: "pd.DataFrame", on: Optional[str] = None, *, suffix: str = "_result") -> "pd.DataFrame":
        """``frame`` (the user's own rows the requests were built from) with each row's result beside it.

        ``on`` names the column of ``frame`` that gave the custom ids (``custom_id_column=`` of
        :func:`~batch_widgets.jsonl.build_requests` / ``submit``); without it, rows are matched by position, as
        requests built without an id column are named ``request-<position>``. ``frame`` keeps its rows, order,
        index and dtypes (an int id stays int); the result columns (:data:`RESULT_COLUMNS` but ``custom_id``)
        follow, with ``suffix`` on names ``frame`` already uses. A row with no result reads ``not_executed``
        (``pending`` while the batch runs).
        """
        import pandas as pd

        from .jsonl import custom_id_of

        if on is None:
            keys = [f"request-{i}" for i in range(len(frame))]
        elif on not in frame.columns:
            raise KeyError(f"join(on={on!r}): no such column; the frame has {list(frame.columns)}")
        else:
            keys = [custom_id_of(v) for v in frame[on].tolist()]
        results = self.to_dataframe().drop_duplicates("custom_id")  # a line in both files: the output's
        position = pd.Index(results["custom_id"]).get_indexer(keys)
        if on is not None and len(frame) and (position < 0).all():
            sample = ", ".join(repr(k) for k in keys[:3])
            raise ValueError(
                f"join(on={on!r}): none of the values ({sample}, ...) is a custom id of these results "
                f"(which look like {results['custom_id'].iloc[0]!r}); was {on!r} the custom_id_column?"
                if len(results)
                else f"join(on={on!r}): these results have no rows"
            )
        found = position >= 0
        picked = (
            results.drop(columns=["custom_id", "input", "body"], errors="ignore")
            .iloc[position.clip(0)]
            .reset_index(drop=True)
        )
        picked = picked.where(pd.Series(found), other=None) if not found.all() else picked
        missing = "pending" if self.batch is not None and self.batch.is_active else "not_executed"
        if not found.all():
            picked.loc[~found, "status"] = missing
            picked.loc[~found, "ok"] = False
            picked["ok"] = picked["ok"].astype(bool)
        picked.index = frame.index
        picked.columns = [f"{c}{suffix}" if c in frame.columns else c for c in picked.columns]
        return pd.concat([frame, picked], axis=1)

    def failed_custom_ids(self) -> list[str]:
        """Custom ids of every request that did not succeed (errors, expired and never executed)."""
        frame = self.to_dataframe()
        return frame.loc[~frame["ok"], "custom_id"].astype(str).tolist()

    def failed_requests(self) -> list[Mapping[str, Any]]:
        """The input lines of the requests to run again (needs the inputs)."""
        if self.inputs is None:
            raise ValueError("the input file is not available, so the failed requests cannot be rebuilt")
        failed = set(self.failed_custom_ids())
        return [line for line in self.inputs if str(line.get("custom_id")) in failed]

    def usage(self) -> tuple[int, int, int]:
        """Summed ``(input, output, cached)`` tokens over all result lines."""
        frame = self.to_dataframe(include_inputs=False)
        input_tokens, output_tokens, cached = (
            int(frame[c].sum(skipna=True)) for c in ("input_tokens", "output_tokens", "cached_tokens")
        )
        return input_tokens, output_tokens, cached

    def cost(self, pricing: Optional["Pricing"] = None) -> tuple[Optional[float], str]:
        """``(USD, source)`` from the results' token counts at batch prices (source "results" or "unknown")."""
        from .pricing import get_pricing

        frame = self.to_dataframe(include_inputs=False)
        model = self.batch.model if self.batch is not None and self.batch.model else None
        if model is None and frame["model"].notna().any():
            model = str(frame["model"].dropna().iloc[0])
        return (pricing or get_pricing()).cost(model, result_usage=self.usage())

    def close(self) -> None:
        """Delete downloaded files now (they are deleted anyway when this object is garbage-collected)."""
        if self._tempdir:
            self._finalizer()

    def __len__(self) -> int:
        return len(self.to_dataframe())

    def __repr__(self) -> str:
        name = self.batch.id if self.batch is not None else "files"
        return f"<BatchResults {name}>"


def _failed(batch: "Batch") -> Exception:
    from .errors import BatchFailedError, LineProblem

    errors = batch.errors.data if batch.errors is not None else []
    return BatchFailedError(
        batch.id, [LineProblem(e.line, e.code or "error", e.message or "", e.param) for e in errors]
    )


def _prompt_of(body: Any) -> Optional[str]:
    """A short readable view of the request: the last user message, the prompt or the input."""
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        content = last.get("content") if isinstance(last, dict) else None
        if isinstance(content, list):  # multimodal parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict) and "text" in p)
        return content if isinstance(content, str) else None
    for key in ("input", "prompt"):
        value = body.get(key)
        if isinstance(value, str):
            return value
        if value is not None:
            return json.dumps(value, ensure_ascii=False)
    return None
