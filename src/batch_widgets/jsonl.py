"""Input JSONL: build request lines from a DataFrame, a list of dicts/strings or a file; write and read them.

Validation is not defined here: :func:`validate` hands the lines to ``batch_widgets.validation``, the one
validator the server uses too.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional, Union

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_ENDPOINT",
    "build_requests",
    "builds_rows",
    "custom_id_of",
    "upload_filename",
    "encode_line",
    "iter_jsonl",
    "read_jsonl",
    "write_jsonl",
]

DEFAULT_ENDPOINT = "/v1/chat/completions"
PathLike = Union[str, os.PathLike]
BodyTemplate = Union[Mapping[str, Any], Callable[[dict], Mapping[str, Any]], None]

# Where the prompt goes in the body, per endpoint (chat builds "messages" instead).
_PROMPT_FIELD = {
    "/v1/responses": "input",
    "/v1/embeddings": "input",
    "/v1/completions": "prompt",
    "/v1/moderations": "input",
    "/v1/images/generations": "prompt",
    "/v1/images/edits": "prompt",
    "/v1/videos": "prompt",
}
_TABLE_SUFFIXES = (".csv", ".parquet", ".json")
# Columns tried, in order, when none is named.
_AUTO_COLUMNS = (
    ("body", "body"),
    ("messages", "messages"),
    ("prompt", "prompt"),
    ("input", "prompt"),
    ("text", "prompt"),
)


def build_requests(
    source: Any,
    *,
    endpoint: str = DEFAULT_ENDPOINT,
    model: Optional[str] = None,
    prompt_column: Optional[str] = None,
    messages_column: Optional[str] = None,
    body_column: Optional[str] = None,
    custom_id_column: Optional[str] = None,
    body_template: BodyTemplate = None,
    system_prompt: Optional[str] = None,
) -> list[dict]:
    """Input lines ``{"custom_id", "method": "POST", "url": endpoint, "body"}`` for each row of ``source``.

    ``source`` is a DataFrame, a list of dicts (rows) or strings (prompts), or a path (``.jsonl`` of complete
    input lines, or ``.csv``/``.parquet``/``.json`` read as a table). Each row gives its body from one of:
    ``body_column`` (a complete body, dict or JSON text), ``messages_column`` (chat messages) or
    ``prompt_column`` (text); with none named, the first of the columns body/messages/prompt/input/text found.
    ``body_template`` (a dict, or a function of the row returning a dict) supplies the other body fields
    (temperature, max_tokens, ...). Custom ids come from ``custom_id_column`` or are ``request-<row position>``,
    so the same rows always get the same ids.
    """
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            return read_jsonl(path)
        source = _read_table(path)
    rows = _rows(source)
    if not rows:
        raise ValueError("no rows to build requests from")
    kind, column = _choose_column(rows[0], prompt_column, messages_column, body_column)
    lines = []
    for position, row in enumerate(rows):
        where = f"row {position}"
        if custom_id_column is not None:
            if custom_id_column not in row or _missing(row[custom_id_column]):
                raise ValueError(f"{where}: custom id column {custom_id_column!r} is missing or empty")
            custom_id = custom_id_of(row[custom_id_column])
        else:
            custom_id = f"request-{position}"
        if column not in row:
            raise ValueError(f"{where}: no column {column!r}")
        value = row[column]
        if _missing(value):
            raise ValueError(f"{where}: column {column!r} is empty")
        template = body_template(row) if callable(body_template) else (body_template or {})
        body = _body(kind, value, endpoint, model, dict(template), system_prompt, where, column)
        lines.append({"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body})
    return lines


def builds_rows(requests: Any, options: Mapping[str, Any]) -> bool:
    """Whether ``requests`` are rows to :func:`build_requests` from (rather than ready input lines).

    Rows: a DataFrame, a table file (``.csv``/``.parquet``/``.json``), or a list of dicts/prompts given with
    build keywords (``options``) where no dict is an input line already. ``requests`` must not be a one-shot
    iterator.
    """
    if hasattr(requests, "columns"):
        return True
    if isinstance(requests, (str, os.PathLike)):
        return pathlib.Path(requests).suffix.lower() in _TABLE_SUFFIXES
    if isinstance(requests, (bytes, bytearray, Mapping)) or not options:
        return False
    return not any(isinstance(i, Mapping) and ("body" in i or "url" in i) for i in requests)


def custom_id_of(value: Any) -> str:
    """The custom id made from a value of a user's id column: its text, with whole floats written as integers
    (an int column holding a missing value turns float in pandas; ``7.0`` must still name request ``"7"``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return custom_id_of(value.item())
    return str(value)


def upload_filename(
    path: Optional[PathLike] = None,
    *,
    description: Optional[str] = None,
    part: int = 1,
    parts: int = 1,
    now: Optional[float] = None,
) -> str:
    """The name an input file gets in the provider's file list, saying what it is: the user's own file name,
    else the batch description, else ``requests``; then the UTC time and, for a split input, the part.

    ``eval_set.jsonl``, ``nightly-eval_20261130-044159.jsonl``, ``requests_20261130-044159_part2of3.jsonl``.
    """
    import re
    import time

    if path is not None:
        stem = pathlib.Path(path).stem
    else:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", description or "").strip("-.")[:60] or "requests"
        stem += time.strftime("_%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{stem}_part{part}of{parts}.jsonl" if parts > 1 else f"{stem}.jsonl"


def _read_table(path: pathlib.Path) -> "pd.DataFrame":
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".json":
        return pd.read_json(path)
    raise ValueError(f"{path}: expected a .jsonl, .csv, .parquet or .json file")


def _rows(source: Any) -> list[dict]:
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # a DataFrame, without importing pandas
        return source.to_dict(orient="records")
    if isinstance(source, Mapping):
        raise TypeError("pass a list of dicts (one per request), not a single dict")
    rows = []
    for position, item in enumerate(source):
        if isinstance(item, str):
            rows.append({"prompt": item})
        elif isinstance(item, Mapping):
            rows.append(dict(item))
        else:
            raise TypeError(f"row {position}: expected a dict or a string, got {type(item).__name__}")
    return rows


def _choose_column(
    first: dict, prompt_column: Optional[str], messages_column: Optional[str], body_column: Optional[str]
) -> tuple[str, str]:
    named = [
        (k, c)
        for k, c in (("body", body_column), ("messages", messages_column), ("prompt", prompt_column))
        if c is not None
    ]
    if len(named) > 1:
        raise ValueError("name only one of body_column, messages_column and prompt_column")
    if named:
        return named[0]
    for column, kind in _AUTO_COLUMNS:
        if column in first:
            return kind, column
    raise ValueError(
        f"cannot tell which column holds the requests (columns: {sorted(first)}); "
        "pass prompt_column=, messages_column= or body_column="
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _body(
    kind: str,
    value: Any,
    endpoint: str,
    model: Optional[str],
    template: dict,
    system_prompt: Optional[str],
    where: str,
    column: str,
) -> dict:
    if kind == "body":
        body = _as_json(value, where, column)
        if not isinstance(body, dict):
            raise ValueError(f"{where}: column {column!r} must hold a JSON object (the request body)")
        body = {**template, **body}
        if model is not None:
            body.setdefault("model", model)
        return body
    body = dict(template)
    if model is not None:
        body["model"] = model
    if "model" not in body:
        raise ValueError(f"{where}: no model; pass model= or put one in body_template")
    if kind == "messages":
        messages = _as_json(value, where, column)
        if not isinstance(messages, list):
            raise ValueError(f"{where}: column {column!r} must hold a list of chat messages")
        if system_prompt is not None and not (
            messages and isinstance(messages[0], Mapping) and messages[0].get("role") in ("system", "developer")
        ):
            messages = [{"role": "system", "content": system_prompt}, *messages]
        body["messages"] = messages
        return body
    if endpoint == "/v1/chat/completions":
        messages = [{"role": "user", "content": value}]
        if system_prompt is not None:
            messages.insert(0, {"role": "system", "content": system_prompt})
        body["messages"] = messages
        return body
    field = _PROMPT_FIELD.get(endpoint)
    if field is None:
        raise ValueError(f"unknown endpoint {endpoint!r}; pass body_column= with complete bodies")
    body[field] = value
    if system_prompt is not None:
        if endpoint != "/v1/responses":
            raise ValueError(f"system_prompt= is only used for chat and responses, not {endpoint}")
        body["instructions"] = system_prompt
    return body


def _as_json(value: Any, where: str, column: str) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"{where}: column {column!r} is not valid JSON ({exc})") from None
    if hasattr(value, "tolist"):  # numpy arrays from parquet
        return value.tolist()
    return value


def encode_line(line: Mapping[str, Any]) -> bytes:
    """One input line as compact UTF-8 JSON (no newline)."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_jsonl(lines: Iterable[Mapping[str, Any] | bytes], path: Optional[PathLike] = None) -> pathlib.Path:
    """Write lines (dicts or already-encoded bytes) to ``path``, or to a new temporary ``.jsonl`` file."""
    if path is None:
        handle, name = tempfile.mkstemp(prefix="batch_input_", suffix=".jsonl")
        os.close(handle)
        path = name
    target = pathlib.Path(path)
    with open(target, "wb") as out:
        for line in lines:
            out.write(line if isinstance(line, bytes) else encode_line(line))
            out.write(b"\n")
    return target


def iter_jsonl(path: PathLike) -> Iterator[dict]:
    """Parsed lines of a JSONL file, skipping blank lines; a broken line raises with its line number."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: not valid JSON ({exc})") from None


def read_jsonl(path: PathLike) -> list[dict]:
    return list(iter_jsonl(path))
