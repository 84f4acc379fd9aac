"""Columnar rows as typed arrays in one binary buffer (what ``js/lib/columnar.js`` ``unpackColumns`` reads).

A dict holding equal-length lists (one per field, as the History snapshot does) becomes ``{"packed": 1, "n": rows,
"columns": [spec, ...], "buffer": bytes}`` plus its other, non-list entries unchanged. ipywidgets sends a
``bytes`` value inside a synced dict as a binary message buffer (no JSON, no base64); the browser gets a
``DataView`` and views each column in it as a typed array. Each column gets the smallest encoding that holds it
exactly:

- ``const``: every row has the same value (e.g. one model, no connections) -- no bytes at all;
- ``int``: whole numbers as ``value - base`` in u8/u16/u32, the type's largest value meaning null; a column
  can be stored relative to another (``started`` - ``created``), as such gaps are small;
- ``delta``: whole numbers with no nulls as steps from the previous row in i8/i16/i32, when that is smaller
  (creation times, newest first);
- ``scaled``: decimals with at most ``digits`` places (costs) as whole numbers of 10^-digits in a u32;
- ``f64``: any other number, NaN meaning null;
- ``hex``: strings made of one prefix and hexadecimal digits (batch ids), two digits a byte;
- ``dict``: strings with few distinct values (tags, models), as codes into a list in the header;
- ``utf8``: other strings, concatenated as UTF-8, with each one's length in UTF-16 units (what JS slices by);
- ``json``: anything else (mixed types, strings with nulls), left as a JSON list in the header.

Decoding gives back exactly the lists (``unpack_columns`` here, ``unpackColumns`` in JS; a test holds both to it).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

__all__ = ["pack_columns", "unpack_columns"]

_UINTS = (np.uint8, np.uint16, np.uint32)
_HEX = re.compile(r"[0-9a-f]+")
_SCALED_DIGITS = 8


def pack_columns(
    cols: Mapping[str, Any], names: Iterable[str], *, relative: Optional[Mapping[str, str]] = None
) -> dict[str, Any]:
    """``cols`` with the row columns ``names`` (equal-length lists) packed into one buffer; other entries stay.
    ``relative`` maps a column to the column it is stored as a difference from (``{"started": "created"}``)."""
    lists = {k: list(cols[k]) for k in names}
    lengths = {len(v) for v in lists.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: { {k: len(v) for k, v in lists.items()} }")
    n = lengths.pop() if lengths else 0
    buffer = _Buffer()
    specs: list[dict[str, Any]] = []
    done: dict[str, list] = {}
    for name, values in lists.items():
        base = (relative or {}).get(name)
        spec = buffer.place(_encode(values, lists.get(base) if base else None, done))
        if spec.get("of") is True:
            spec["of"] = base
        spec["name"] = name
        specs.append(spec)
        done[name] = values
    out = {k: v for k, v in cols.items() if k not in lists}
    out.update({"packed": 1, "n": n, "columns": specs, "buffer": buffer.bytes()})
    return out


class _Buffer:
    """The column data laid out one after the other, each at an 8-byte boundary (typed arrays need alignment)."""

    def __init__(self) -> None:
        self.parts: list[tuple[int, bytes]] = []
        self.size = 0

    def place(self, encoded: tuple[dict[str, Any], Optional[bytes]]) -> dict[str, Any]:
        spec, data = encoded
        if "parts" in spec:  # sub-columns (tuples, JSON objects): each placed on its own
            spec["parts"] = [self.place(part) for part in spec["parts"]]
        if data is not None:
            self.size += -self.size % 8
            spec["offset"], spec["bytes"] = self.size, len(data)
            self.parts.append((self.size, data))
            self.size += len(data)
        return spec

    def bytes(self) -> bytes:
        out = bytearray(self.size)
        for offset, data in self.parts:
            out[offset : offset + len(data)] = data
        return bytes(out)


Encoded = tuple[dict[str, Any], Optional[bytes]]


def _encode(values: list, base: Optional[list], done: Mapping[str, list]) -> Encoded:
    types = set(map(type, values))  # per-value work stays in C where it can
    if not values or (len(types) == 1 and values.count(values[0]) == len(values)):
        return {"enc": "const", "value": values[0] if values else None}, None
    for name, other in done.items():  # the same as a column already sent
        if other == values:
            return {"enc": "ref", "column": name}, None
    present = types - {type(None)}
    if types == {str}:
        return _objects(values, done) or _strings(values)
    if present <= {tuple, list}:
        return _tuples(values) or ({"enc": "json", "values": list(values)}, None)
    if present and present <= {int, float}:
        if present == {int}:
            if base is not None and set(map(type, base)) == {int}:
                gaps = _minus(values, base)
                if gaps is not None:
                    spec, data = _ints(gaps)
                    if spec is not None:
                        return {**spec, "of": True}, data
            spec, data = _ints(values)
            delta = _deltas(values) if data is not None and type(None) not in types else None
            if delta is not None and data is not None and len(delta[1]) < len(data):
                return delta
            if spec is not None:
                return spec, data
        scaled = _scaled(values)
        if scaled is not None:
            return scaled
        return {"enc": "f64"}, _floats(values).tobytes()
    return {"enc": "json", "values": list(values)}, None  # mixed or nullable strings: left as JSON


def _minus(values: list, base: list) -> Optional[list]:
    gaps = [None if v is None else v - b for v, b in zip(values, base, strict=True)]
    return None if any(g is not None and g < 0 for g in gaps) else gaps


def _floats(values: list) -> Any:
    return np.array([np.nan if v is None else v for v in values] if None in values else values, dtype=np.float64)


def _ints(values: list) -> tuple[Optional[dict[str, Any]], Optional[bytes]]:
    nulls = None in values
    array = np.array([0 if v is None else v for v in values] if nulls else values, dtype=np.int64)
    mask = np.array([v is None for v in values]) if nulls else None
    present = array[~mask] if mask is not None else array
    low = int(present.min()) if len(present) else 0
    span = int(present.max()) - low if len(present) else 0
    for dtype in _UINTS:
        null = np.iinfo(dtype).max
        if span < null:
            out = (array - low).astype(dtype)
            if mask is not None:
                out[mask] = null
            return {"enc": "int", "type": np.dtype(dtype).name, "base": low}, out.tobytes()
    return None, None


def _deltas(values: Sequence[Optional[int]]) -> Optional[tuple[dict[str, Any], bytes]]:
    """Whole numbers with no nulls as the first one and the steps between neighbours (times of batches listed
    newest first step by minutes, not by the years since 1970)."""
    if not values or None in values:
        return None
    array = np.array(values, dtype=np.int64)
    steps = np.diff(array, prepend=array[:1])
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= steps.min() and steps.max() <= info.max:
            return {"enc": "delta", "type": np.dtype(dtype).name, "first": values[0]}, steps.astype(dtype).tobytes()
    return None


def _scaled(values: list) -> Optional[tuple[dict[str, Any], bytes]]:
    scale = 10**_SCALED_DIGITS
    null = np.iinfo(np.uint32).max
    array = _floats(values)
    nulls = np.isnan(array)
    whole = np.round(np.where(nulls, 0, array) * scale)
    if whole.min() < 0 or whole.max() >= null or not (whole / scale == np.where(nulls, 0, array)).all():
        return None  # must come back as the very same floats
    units = whole.astype(np.uint32)
    units[nulls] = null
    return {"enc": "scaled", "type": "uint32", "digits": _SCALED_DIGITS}, units.tobytes()


def _tuples(values: list) -> Optional[Encoded]:
    """Rows of k whole numbers (token counts), or null: k int columns, a null row null in each."""
    sizes = {len(v) for v in values if v is not None}
    if len(sizes) != 1:
        return None
    size = sizes.pop()
    parts = []
    for i in range(size):
        column = [None if v is None else v[i] for v in values]
        if set(map(type, column)) - {int, type(None)} or (None in column) != (None in values):
            return None
        spec, data = _ints(column)
        if spec is None:
            return None
        parts.append((spec, data))
    return {"enc": "tuple", "parts": parts}, None


def _objects(values: list, done: Mapping[str, list]) -> Optional[Encoded]:
    """Strings that are JSON objects of strings, as ``json.dumps(obj, ensure_ascii=False)`` writes them (shown
    metadata): which keys each row has (a dictionary), and each key's values as a column of their own -- often
    one already sent (the description), which then costs nothing. Empty strings stay empty."""
    if not any(v.startswith("{") for v in values[:64]):
        return None
    texts = [v for v in values if v]
    joined = "[" + ", ".join(texts) + "]"  # one parse and one write for the whole column, in C
    try:
        parsed = json.loads(joined)
    except ValueError:
        return None
    if len(parsed) != len(texts) or json.dumps(parsed, ensure_ascii=False) != joined:
        return None  # not one object per string, or not written as the browser will write it back
    if not all(type(o) is dict and all(type(x) is str for x in o.values()) for o in parsed):
        return None
    rows = iter(parsed)
    objects = [next(rows) if v else None for v in values]
    shapes = [None if o is None else tuple(o) for o in objects]
    distinct = list(dict.fromkeys(shapes))
    if len(distinct) > np.iinfo(np.uint16).max:
        return None
    keys = list(dict.fromkeys(k for shape in distinct if shape for k in shape))
    code = {shape: i for i, shape in enumerate(distinct)}
    dtype = np.uint8 if len(distinct) <= np.iinfo(np.uint8).max else np.uint16
    shape_codes = np.array([code[shape] for shape in shapes], dtype=dtype).tobytes()
    parts: list[Encoded] = [
        (
            {"enc": "dict", "type": np.dtype(dtype).name, "values": [list(s) if s else None for s in distinct]},
            shape_codes,
        )
    ]
    for key in keys:
        column = ["" if o is None else o.get(key, "") for o in objects]
        parts.append(_encode(column, None, done))
    return {"enc": "object", "keys": keys, "parts": parts}, None


def _strings(values: Sequence[str]) -> Encoded:
    if len(set(map(len, values))) == 1:  # ids: one prefix, then hex digits?
        prefix = _common_prefix(values)
        if (len(values[0]) - len(prefix)) % 2 and prefix[-1:] in "0123456789abcdef":
            prefix = prefix[:-1]  # an even number of digits: whole bytes
        width = len(values[0]) - len(prefix)
        if width and width % 2 == 0:
            digits = "".join([v[len(prefix) :] for v in values])
            if _HEX.fullmatch(digits):
                return {"enc": "hex", "prefix": prefix, "width": width // 2}, bytes.fromhex(digits)
    distinct = list(dict.fromkeys(values))
    if len(distinct) <= max(len(values) // 4, 1) and len(distinct) <= np.iinfo(np.uint16).max:
        dtype = np.uint8 if len(distinct) <= np.iinfo(np.uint8).max else np.uint16
        code = {v: i for i, v in enumerate(distinct)}
        return (
            {"enc": "dict", "type": np.dtype(dtype).name, "values": distinct},
            np.array([code[v] for v in values], dtype=dtype).tobytes(),
        )
    # Lengths in UTF-16 code units: JS decodes the whole text once and slices it (characters beyond U+FFFF
    # count two there, one in Python).
    joined = "".join(values)
    try:
        text = joined.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (from a \\ud800 escape): not UTF-8, left as JSON
        return {"enc": "json", "values": list(values)}, None
    if joined.isascii():
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    else:
        lengths = np.array([len(v) if v.isascii() else len(v.encode("utf-16-le")) // 2 for v in values])
    dtype = next(d for d in _UINTS if lengths.max() <= np.iinfo(d).max)
    counts = lengths.astype(dtype).tobytes()
    pad = -len(counts) % 8
    return ({"enc": "utf8", "type": np.dtype(dtype).name, "text_at": len(counts) + pad}, counts + b"\0" * pad + text)


def _common_prefix(values: Sequence[str]) -> str:
    first, last = min(values), max(values)
    size = 0
    while size < len(first) and size < len(last) and first[size] == last[size]:
        size += 1
    return first[:size]


def unpack_columns(packed: Mapping[str, Any]) -> dict[str, Any]:
    """The dict :func:`pack_columns` was given (the reference the JS decoder is tested against)."""
    if not packed.get("packed"):
        return dict(packed)
    out = {k: v for k, v in packed.items() if k not in ("packed", "columns", "buffer")}
    decoded: dict[str, list] = {}
    buffer = memoryview(packed["buffer"])
    for spec in packed["columns"]:
        decoded[spec["name"]] = _decode(spec, packed["n"], buffer, decoded)
    out.update(decoded)
    return out


def _decode(spec: Mapping[str, Any], n: int, buffer: memoryview, decoded: Mapping[str, list]) -> list:
    enc = spec["enc"]
    data = buffer[spec["offset"] : spec["offset"] + spec["bytes"]] if "offset" in spec else memoryview(b"")
    if enc == "const":
        return [spec["value"]] * n
    if enc == "ref":
        return list(decoded[spec["column"]])
    if enc == "json":
        return list(spec["values"])
    if enc == "int":
        null = np.iinfo(spec["type"]).max
        values = [None if v == null else v + spec["base"] for v in np.frombuffer(data, dtype=spec["type"]).tolist()]
        if "of" in spec:
            values = [None if v is None else v + b for v, b in zip(values, decoded[spec["of"]], strict=True)]
        return values
    if enc == "delta":
        return (np.cumsum(np.frombuffer(data, dtype=spec["type"]).astype(np.int64)) + spec["first"]).tolist()
    if enc == "scaled":
        null, scale = np.iinfo(spec["type"]).max, 10 ** spec["digits"]
        return [None if v == null else v / scale for v in np.frombuffer(data, dtype=spec["type"]).tolist()]
    if enc == "f64":
        return [None if v != v else v for v in np.frombuffer(data, dtype=np.float64).tolist()]
    if enc == "hex":
        width, raw = spec["width"], bytes(data)
        return [spec["prefix"] + raw[i * width : (i + 1) * width].hex() for i in range(n)]
    if enc == "dict":
        return [spec["values"][c] for c in np.frombuffer(data, dtype=spec["type"]).tolist()]
    if enc == "utf8":
        counts = np.frombuffer(data[: n * np.dtype(spec["type"]).itemsize], dtype=spec["type"]).tolist()
        units = bytes(data[spec["text_at"] :]).decode("utf-8").encode("utf-16-le")
        at, strings = 0, []
        for count in counts:
            strings.append(units[2 * at : 2 * (at + count)].decode("utf-16-le"))
            at += count
        return strings
    if enc == "tuple":
        parts = [_decode(part, n, buffer, decoded) for part in spec["parts"]]
        return [None if row[0] is None else list(row) for row in zip(*parts, strict=True)]
    if enc == "object":
        shapes, *columns = (_decode(part, n, buffer, decoded) for part in spec["parts"])
        by_key = dict(zip(spec["keys"], columns, strict=True))
        return [
            "" if shape is None else json.dumps({k: by_key[k][i] for k in shape}, ensure_ascii=False)
            for i, shape in enumerate(shapes)
        ]
    raise ValueError(f"unknown column encoding {enc!r}")
