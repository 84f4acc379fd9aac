"""Packed columns (typed arrays in one buffer) decode to exactly the JSON columns, in Python and in the browser."""

import base64
import json
import pathlib
import shutil

import pytest
from live_helpers import run_node

from batch_widgets.widgets._columnar import pack_columns, unpack_columns
from batch_widgets.widgets.history_view import encode_rows

ROOT = pathlib.Path(__file__).resolve().parents[2]

EDGES = {
    "n": 8,
    "big": [1, None, 3, 2**40, -5, 0, 7, 8],  # beyond u32: float64
    "text": ["x", "é😀 astral", "", "x", "y", "z", "q", "\u2028"],  # UTF-16 lengths differ from code points
    "floats": [0.1, None, 1e300, 2.5, -1.0, 3.0, 0.0, 5e-324],
    "nothing": [None] * 8,  # const
    "ids": [f"batch_{i:02x}ff" for i in (10, 255, 16, 10, 17, 18, 0, 1)],  # prefix + hex: packed bytes
    "flags": [True, False, True, True, True, True, False, True],  # not numbers: left as JSON
    "start": [1, 2, 3, 4, 5, 7, 100, 100],
    "end": [5, 6, None, 7, 8, 9, 400, 100],  # stored relative to "start"
    "cost": [0.5, 0.25, None, 1.0, 2.0, 3.0, 0.0, 0.00012345],  # whole 1e-8 units
    "cost_big": [0.5, 48.03, None, 1.0, 2.0, 3.0, 0.0, 0.1],  # past u32 units: float64
    "tags": ["a,b"] * 7 + ["c"],  # few distinct: dictionary codes
    "created": [10**9 + i * 30_000 for i in range(8)][::-1],  # steps far smaller than the span: deltas
    "nullable_text": ["a", None, "b", "c", "d", "e", "f", "g"],  # left as JSON
    "tokens": [[1, 2, 3], None, [4, 5, 6], [7, 8, 9], None, [0, 0, 0], [1, 1, 1], [2, 2**20, 2]],  # int tuples
    "desc": ["a", "b", "", 'd"q', "é😀", "f", "g", "h"],
    # JSON objects of strings as Python writes them (shown metadata): keys per row, each key's values a column
    "meta": [
        json.dumps(m, ensure_ascii=False) if m else ""
        for m in (
            {"description": "a", "tags": "x,y"},
            {"description": "b"},
            None,
            {"description": 'd"q', "owner": "ana"},
            {"description": "é😀", "tags": "\n\u2028\u001f\\ \u007f"},
            {"description": "f"},
            {"description": "g"},
            {"description": "h"},
        )
    ],
    "surrogate": ["\ud800", "a", "b", "c", "d", "e", "f", "g"],  # not UTF-8: left as JSON
    "dictionaries": ["not", "a", "row", "column"],  # not named: untouched
}
NAMES = [k for k in EDGES if k not in ("n", "dictionaries")]


def pack(cols, names):
    return pack_columns(
        cols, names, relative={"end": "start"} if "end" in names else {"ended": "created", "started": "created"}
    )


def test_python_round_trip_and_encodings():
    packed = pack(EDGES, NAMES)
    assert isinstance(packed["buffer"], bytes) and packed["dictionaries"] == EDGES["dictionaries"]
    encodings = {c["name"]: c["enc"] for c in packed["columns"]}
    assert encodings == {
        "big": "f64", "text": "utf8", "floats": "f64", "nothing": "const", "ids": "hex", "flags": "json",
        "start": "int", "end": "int", "cost": "scaled", "cost_big": "f64", "tags": "dict", "created": "delta",
        "nullable_text": "json", "tokens": "tuple", "desc": "utf8", "meta": "object", "surrogate": "json",
    }  # fmt: skip
    meta = next(c for c in packed["columns"] if c["name"] == "meta")
    assert meta["keys"] == ["description", "tags", "owner"] and meta["parts"][1] == {"enc": "ref", "column": "desc"}
    assert unpack_columns(packed) == as_json(EDGES)
    assert unpack_columns({"n": 1, "id": ["x"]}) == {"n": 1, "id": ["x"]}  # not packed: as it is


def as_json(cols):
    """What the JSON form of these columns reads as (tuples become lists)."""
    return json.loads(json.dumps(cols))


def js_unpack(packed):
    payload = {**packed, "buffer": base64.b64encode(packed["buffer"]).decode()}
    script = """
import { unpackColumns } from "./js/lib/columnar.js";
let s = "";
process.stdin.on("data", (d) => (s += d));
process.stdin.on("end", () => {
  const p = JSON.parse(s);
  const raw = Buffer.from(p.buffer, "base64");
  const ab = new ArrayBuffer(raw.length + 3);
  new Uint8Array(ab, 3).set(raw);
  p.buffer = new DataView(ab, 3, raw.length);  // unaligned, as a slice of a websocket message can be
  // Number columns without nulls come as Float64Arrays: compare their values.
  console.log(JSON.stringify(unpackColumns(p), (k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v)));
});
"""
    return run_node(script, payload)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_browser_decodes_what_python_packed():
    assert js_unpack(pack(EDGES, NAMES)) == as_json(EDGES)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_browser_decodes_a_history_snapshot():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_history_browser import synthetic_batches

    cols = encode_rows(synthetic_batches(400))
    names = [
        k
        for k in cols
        if isinstance(cols[k], list)
        and len(cols[k]) == cols["n"]
        and k not in ("statuses", "endpoints", "cost_sources", "connections")
    ]
    packed = pack(cols, names)
    assert js_unpack(packed) == as_json(cols)  # (its size against JSON is measured at 100,000 rows by the benchmark)


def test_a_long_history_travels_as_one_binary_buffer():
    import sys

    from ipywidgets.widgets.widget import _remove_buffers

    from batch_widgets.widgets.history_view import PACK_ROWS, encode_history

    sys.path.insert(0, str(ROOT / "tests" / "widgets"))
    from test_history_view import populated, view

    w = view(populated(PACK_ROWS + 50))
    state = w.get_state("_history_rows")["_history_rows"]
    assert state["packed"] == 1 and state["n"] == PACK_ROWS + 50
    batches = list(w._history_rows.values())
    assert unpack_columns(state) == as_json({"version": state["version"], **encode_rows(batches)})
    # What goes over the websocket: JSON without the rows, and one binary buffer.
    plain, paths, buffers = _remove_buffers({"_history_rows": state})
    assert paths == [["_history_rows", "buffer"]] and len(buffers) == 1
    sent = len(json.dumps(plain)) + len(buffers[0])
    assert sent < 0.6 * len(json.dumps(encode_rows(batches), separators=(",", ":")))
    assert encode_history(batches[:10]) == encode_rows(batches[:10])  # small: plain JSON (patches, short lists)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_panel_reads_packed_rows_as_it_reads_json_rows():
    """js/panels/history.js decodeRows gives the same rows from the packed snapshot as from its JSON form."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_history_browser import synthetic_batches

    from batch_widgets.widgets.history_view import PACK_ROWS, encode_history

    batches = synthetic_batches(PACK_ROWS + 7)
    packed = encode_history(batches)
    assert packed.get("packed") == 1
    payload = {
        "json": encode_rows(batches),
        "packed": {**packed, "buffer": base64.b64encode(packed["buffer"]).decode()},
    }
    script = """
import { unpackColumns } from "./js/lib/columnar.js";
import { decodeRows } from "./js/panels/history.js";
let s = "";
process.stdin.on("data", (d) => (s += d));
process.stdin.on("end", () => {
  const { json, packed } = JSON.parse(s);
  const raw = Buffer.from(packed.buffer, "base64");
  packed.buffer = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const a = JSON.stringify(decodeRows(json, 2e9));
  const b = JSON.stringify(decodeRows(unpackColumns(packed), 2e9));
  console.log(JSON.stringify({ same: a === b, rows: JSON.parse(a).length }));
});
"""
    assert run_node(script, payload) == {"same": True, "rows": PACK_ROWS + 7}
