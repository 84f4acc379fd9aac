"""The fast path (pyarrow, numpy join) and the line-by-line path (json per line, dict join) give equal frames.

Files are generated from a seed with every shape that has broken a reader before: unicode and escapes, lines
longer than a reader block, embeddings, errors without a response, lines the output shares with the error file,
result lines for no input, duplicate ids, blank lines, CRLF, input lines in other writers' layouts, and ``null``.
"""

import json
import random

import pandas as pd
import pytest

from batch_widgets import results as mod
from batch_widgets.results import BatchResults

TEXTS = ["plain", "élan naïve", "数据 😀", 'quote " backslash \\ tab \t', "line\nbreak", "\u2028 sep", ""]


def output_line(rng, cid):
    kind = rng.choice(
        [
            "chat",
            "chat",
            "chat",
            "completion",
            "responses",
            "embedding",
            "http_error",
            "expired",
            "cancelled",
            "text_error",
            "no_choices",
        ]
    )
    usage = {
        "prompt_tokens": rng.randint(0, 900),
        "completion_tokens": rng.randint(0, 400),
        "prompt_tokens_details": {"cached_tokens": rng.choice([0, 64, None])},
        "completion_tokens_details": {"reasoning_tokens": rng.choice([0, 128, None])},
    }
    if kind == "chat":
        body = {
            "model": "gpt-4o-mini",
            "usage": usage,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": rng.choice(["stop", "length", None]),
                    "message": {"role": "assistant", "content": rng.choice(TEXTS + [None])},
                }
            ],
        }
        return {"custom_id": cid, "response": {"status_code": 200, "body": body}, "error": None}
    if kind == "completion":
        body = {
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"text": rng.choice(TEXTS), "finish_reason": "stop"}],
            "usage": usage,
        }
        return {"custom_id": cid, "response": {"status_code": 200, "body": body}}
    if kind == "responses":
        body = {
            "model": "gpt-4.1",
            "status": "completed",
            "usage": {"input_tokens": 5, "output_tokens": 2, "input_tokens_details": {"cached_tokens": 1}},
            "output": [
                {
                    "type": "message",
                    "content": [
                        {"type": "output_text", "text": rng.choice(TEXTS)},
                        {"type": "output_text", "text": "!"},
                    ],
                }
            ],
        }
        return {"custom_id": cid, "response": {"status_code": 200, "body": body}}
    if kind == "embedding":
        vector = [rng.uniform(-1, 1) for _ in range(rng.choice([3, 1536]))]
        body = {"model": "text-embedding-3-small", "data": [{"embedding": vector}], "usage": {"prompt_tokens": 3}}
        return {"custom_id": cid, "response": {"status_code": 200, "body": body}}
    if kind == "http_error":
        return {
            "custom_id": cid,
            "response": {
                "status_code": rng.choice([400, 429, 500]),
                "body": {
                    "error": {"message": rng.choice(TEXTS), "code": rng.choice(["context_length_exceeded", None])}
                },
            },
            "error": None,
        }
    if kind in ("expired", "cancelled"):  # errors without a response
        return {"custom_id": cid, "response": None, "error": {"code": f"batch_{kind}", "message": "not run"}}
    if kind == "text_error":
        return {"custom_id": cid, "error": {"code": "server_error", "message": rng.choice(TEXTS)}}
    return {"custom_id": cid, "response": {"status_code": 200, "body": {"model": "m", "choices": []}}}


def input_line(rng, cid):
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": rng.choice(TEXTS) * rng.randint(1, 3)},
        ],
    }
    if rng.random() < 0.1:
        body = {"model": "text-embedding-3-small", "input": rng.choice(TEXTS)}
    if rng.random() < 0.05:
        body = {"model": "gpt-3.5-turbo-instruct", "prompt": rng.choice(TEXTS), "messages": []}
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}


def dump(obj, rng):
    """One line as different writers write it: ours (compact, UTF-8), json.dumps' defaults (spaces, \\u escapes)."""
    if rng.random() < 0.3:
        return json.dumps(obj)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write(path, lines, newline="\n"):
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


def assert_paths_agree(out, err, inp, batch=None):
    for include_inputs in (True, False):
        fast = BatchResults(out, err, inp, batch=batch).to_dataframe(include_inputs=include_inputs)
        slow = BatchResults(out, err, inp, batch=batch, fast=False).to_dataframe(include_inputs=include_inputs)
        pd.testing.assert_frame_equal(fast, slow)
    return fast if include_inputs else BatchResults(out, err, inp, batch=batch).to_dataframe()


def assert_paths_refuse(out, inp, match):
    """Both paths raise the same ValueError, which names the bad line."""
    errors = []
    for fast in (True, False):
        with pytest.raises(ValueError, match=match) as caught:
            BatchResults(out, None, inp, fast=fast).to_dataframe()
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("gather", [0, 1 << 30], ids=["strings gathered", "strings taken"])
@pytest.mark.parametrize("parts", [0, 1 << 40], ids=["inputs in two parts", "inputs whole"])
def test_fast_and_line_by_line_paths_give_equal_frames(tmp_path, seed, gather, parts, monkeypatch):
    monkeypatch.setattr(mod, "_BLOCK_SIZE", 1 << 14)  # embeddings (~30 KB a line) straddle reader blocks
    monkeypatch.setattr(mod, "_GATHER_BYTES_PER_ROW", gather)  # both ways of putting strings in input order
    monkeypatch.setattr(mod, "_TWO_PARTS_FROM", parts)  # input files read whole, and in two parts at once
    rng = random.Random(seed)
    ids = [f"req-{i}" if rng.random() < 0.9 else f'r\u00e9q {i} "q"' for i in range(400)]
    inputs = [dump(input_line(rng, cid), rng) for cid in ids]
    ran = ids[:]
    rng.shuffle(ran)  # the API keeps no order
    ran = ran[:350]  # the rest ran nowhere: not_executed
    out_lines = [dump(output_line(rng, cid), rng) for cid in ran[:300]]
    err_lines = [dump(output_line(rng, cid), rng) for cid in ran[300:]]
    err_lines += [dump(output_line(rng, cid), rng) for cid in ran[:5]]  # also in the output file
    out_lines += [dump(output_line(rng, "stranger"), rng)]  # a result for no input
    out_lines.insert(7, "")  # blank lines
    out = write(tmp_path / "out.jsonl", out_lines, newline=rng.choice(["\n", "\r\n"]))
    err = write(tmp_path / "err.jsonl", err_lines)
    inp = write(tmp_path / "in.jsonl", inputs)
    frame = assert_paths_agree(out, err, inp)
    assert len(frame) == 400 + 5 + 1
    assert frame["custom_id"].tolist()[-1] == "stranger"
    assert (frame["status"] == "not_executed").sum() >= 50
    assert frame["embedding"].map(lambda v: v is not None and len(v) == 1536).any()


def test_input_lines_in_other_layouts_agree(tmp_path):
    """Lines the fast input reader must hand to the line-by-line one, or read the same way."""
    out = write(
        tmp_path / "out.jsonl",
        [
            json.dumps(
                {"custom_id": c, "response": {"status_code": 200, "body": {"choices": [{"message": {"content": c}}]}}}
            )
            for c in "abcdefg"
        ],
    )
    inputs = [
        '{"custom_id": "a", "method": "POST", "url": "/v1/x", '
        '"body": {"messages": [{"role": "user", "content": "hi"}]}}',
        '{"body": {"prompt": "body first"}, "custom_id": "b", "method": "POST", "url": "/v1/x"}',
        '{"custom_id": "c\\"body\\":", "body":{"input":"a body key inside the id"}}',
        '{"custom_id":"d","meta":{"body":{"x":1}},"body":{"input":"nested body key first"}}',
        '{"custom_id":"e","body":{"messages":[{"role":"user","content":[{"type":"text","text":"parts"}]}]}}',
        '  {"custom_id":"f","body":{"input":["a","list"]}}  \r',
        '{"custom_id":"g","body":{"model":"m","messages":[]},"url":"/v1/x"}',
    ]
    frame = assert_paths_agree(out, None, write(tmp_path / "in.jsonl", inputs))
    bodies = dict(zip(frame["custom_id"], frame["body"], strict=True))
    assert bodies["a"] == '{"messages": [{"role": "user", "content": "hi"}]}'  # the file's own text
    assert json.loads(bodies["d"]) == {"input": "nested body key first"}
    assert frame["input"].tolist()[:6] == [
        "hi",
        "body first",
        "a body key inside the id",
        "nested body key first",
        "parts",
        '["a", "list"]',
    ]


@pytest.mark.parametrize("parts", [0, 1 << 40], ids=["in two parts", "whole"])
def test_fast_input_reader_reads_our_layout_without_falling_back(tmp_path, monkeypatch, parts):
    monkeypatch.setattr(mod, "_TWO_PARTS_FROM", parts)
    lines = [
        json.dumps(input_line(random.Random(i), f"r{i}"), ensure_ascii=False, separators=(",", ":")) for i in range(50)
    ]
    inp = write(tmp_path / "in.jsonl", lines)
    assert mod._read_inputs_fast(inp) is not None  # the fast path took it
    table = mod._read_inputs_fast(inp)
    assert table.column("body").to_pylist() == [
        json.dumps(json.loads(x)["body"], ensure_ascii=False, separators=(",", ":")) for x in lines
    ]
    assert table.column("custom_id").to_pylist() == [f"r{i}" for i in range(50)]
    assert table.column("input").to_pylist() == [mod._prompt_of(json.loads(x)["body"]) for x in lines]


@pytest.mark.parametrize("parts", [0, 1 << 40], ids=["in two parts", "whole"])
def test_long_prompts_kept_in_place_agree_with_the_line_by_line_path(tmp_path, monkeypatch, parts):
    """Chat inputs with long prompts: each prompt stays in the parse's own buffer (moved to its front); small
    blocks make many of those buffers."""
    monkeypatch.setattr(mod, "_BLOCK_SIZE", 1 << 13)
    monkeypatch.setattr(mod, "_GATHER_BYTES_PER_ROW", 0)
    monkeypatch.setattr(mod, "_TWO_PARTS_FROM", parts)
    kept = []
    keep = mod._keep_in_place
    monkeypatch.setattr(mod, "_keep_in_place", lambda *a: kept.append(keep(*a)) or kept[-1])
    rng = random.Random(5)
    lines = []
    for i in range(300):
        last = {"role": "user", "content": rng.choice(TEXTS) * rng.randint(20, 60)}
        if i % 37 == 0:
            last = {"role": "assistant", "content": None}  # a null last message: a null prompt
        system = {"role": "system", "content": "be brief " * rng.randint(0, 3)}
        body = {"model": "m", "messages": [system, last] if i % 5 else [last]}
        lines.append(dump({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}, rng))
    inp = write(tmp_path / "in.jsonl", lines)
    out = write(
        tmp_path / "out.jsonl", [json.dumps({"custom_id": f"r{i}", "response": None}) for i in range(0, 300, 3)]
    )
    frame = assert_paths_agree(out, None, inp)
    assert len(kept) > 2  # the in-place way ran, on several reader blocks
    assert frame["input"].isna().sum() == 9
    assert frame["input"].tolist()[1] == json.loads(lines[1])["body"]["messages"][-1]["content"]


def test_bodies_that_would_merge_back_to_back_are_refused_on_both_paths(tmp_path):
    """Three bad bodies that read as three objects when written one after another: the first opens a string the
    second closes, the third holds two objects. Each body is parsed on its own line, so both paths refuse them."""
    out = write(tmp_path / "out.jsonl", [json.dumps({"custom_id": "1", "response": None})])
    lines = ['{"custom_id":"1","body":{"a":"}}', '{"custom_id":"2","body":{"}}', '{"custom_id":"3","body":{}{}}']
    inp = write(tmp_path / "in.jsonl", lines)
    assert_paths_refuse(out, inp, "line 1: not valid JSON")


@pytest.mark.parametrize("where", ["output", "input"])
def test_null_lines_give_the_same_clear_error_on_both_paths(tmp_path, where):
    out = write(tmp_path / "out.jsonl", [json.dumps({"custom_id": "a", "response": None}), "null"])
    inp = write(tmp_path / "in.jsonl", ['{"custom_id":"a","body":{}}', "null"])
    if where == "input":
        out = write(tmp_path / "out.jsonl", [json.dumps({"custom_id": "a", "response": None})])
    assert_paths_refuse(out, inp, "line 2: expected a JSON object")


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1}\n{"b":2}\n',
        b'{"a":1}\r\n  \t{"b":2}\r\n\r\n   \n{"c":3}',
        b"  \n\n{}\n",
        b'{"a":1}\nnull\n{"b":2}\n',
        b"null\n",
        b'{"a":1}\n   [1]\n',
        b'{"a":1}\n \t 7',
        b'{"a":"x\\ny"}\n{"b":2}\n   ',
        b'{"a":1}\n\nnull\n',
    ],
)
def test_result_file_guard_sees_every_line_start_wherever_the_file_ends(tmp_path, text):
    """pyarrow's reader crashes on a line holding just ``null``: the guard must see every line's first byte past
    its blanks, in every prefix of these files (a file may end in blanks, mid-line or on a newline)."""
    path = tmp_path / "out.jsonl"
    for size in range(len(text) + 1):
        path.write_bytes(text[:size])
        lines = [line.lstrip(b" \t\r\f\v") for line in text[:size].split(b"\n")]
        expected = all(not line.strip() or line.startswith(b"{") for line in lines)
        assert mod._only_objects(path) == expected, (text, size)


def test_prompts_survive_the_bodies_sliding_together(tmp_path):
    """The fast input reader reuses the file's buffer for the body column after parsing the prompts from it:
    prompts of every kind (no messages at all here) must be their own copies."""
    lines = [
        json.dumps(
            {"custom_id": f"e{i}", "body": {"model": "m", "input": f"text {i} " * (i % 7)}}, separators=(",", ":")
        )
        for i in range(300)
    ]
    inp = write(tmp_path / "in.jsonl", lines)
    fast = mod._read_inputs_fast(inp)
    assert fast is not None and fast.equals(mod._read_inputs_slow(inp))


def test_keeping_strings_in_place_touches_only_the_arrays_own_bytes():
    """A slice shares its buffer with the strings before it: keeping some of the slice's strings moves them within
    the slice's bytes and leaves the others' bytes alone."""
    import numpy as np
    import pyarrow as pa

    strings = pa.array(["aaa", "bb", "cccc", None, "dd", "e"])
    kept = mod._keep_in_place(strings.slice(2), np.array([1, 2, 3]))
    assert kept.to_pylist() == [None, "dd", "e"]
    assert strings.slice(0, 2).to_pylist() == ["aaa", "bb"]


def test_first_element_skips_what_a_null_list_still_spans():
    """A null list may keep a length in Arrow; its elements are not the row's (the reader's lists do not, but a
    sliced or computed one can)."""
    import pyarrow as pa

    choices = pa.array([{"text": "a"}, {"text": "hidden"}, {"text": "c"}])
    lists = pa.ListArray.from_arrays(pa.array([0, 1, 2, 3], pa.int32()), choices, mask=pa.array([False, True, False]))
    assert mod._first(lists, "text").to_pylist() == ["a", None, "c"]
    assert mod._first(lists.slice(1), "text").to_pylist() == [None, "c"]


@pytest.mark.parametrize("bad_line", [1, 5])  # in the first and in the second part
@pytest.mark.parametrize("where", [b"hi", b'"r', b"POST"], ids=["body", "custom id", "head"])
def test_input_that_is_not_utf8_gives_the_same_clear_error_on_both_paths(tmp_path, bad_line, where, monkeypatch):
    monkeypatch.setattr(mod, "_TWO_PARTS_FROM", 0)  # the fast reader checks each part apart
    out = write(tmp_path / "out.jsonl", [json.dumps({"custom_id": "r0", "response": None})])
    lines = [
        f'{{"custom_id":"r{i}","method":"POST","body":{{"messages":[{{"role":"user","content":"hi {i}"}}]}}}}'
        for i in range(6)
    ]
    raw = [line.encode() for line in lines]
    raw[bad_line - 1] = raw[bad_line - 1].replace(where, where[:1] + b"\xff" + where[2:])
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"\n".join(raw) + b"\n")
    assert_paths_refuse(out, inp, f"line {bad_line}: not valid JSON")


@pytest.mark.parametrize("field", [b"content", b"custom_id", b"finish_reason"])
def test_output_that_is_not_utf8_gives_the_same_clear_error_on_both_paths(tmp_path, field):
    """pyarrow's JSON reader copies strings without checking their UTF-8: the fast path must not hand such a
    frame on (it fails later, far from the cause)."""
    rows = [
        {
            "custom_id": f"r{i}",
            "response": {
                "status_code": 200,
                "body": {"choices": [{"message": {"content": f"answer {i}"}, "finish_reason": "stop"}]},
            },
        }
        for i in range(5)
    ]
    raw = [json.dumps(row).encode() for row in rows]
    value = {b"content": b"answer 3", b"custom_id": b"r3", b"finish_reason": b"stop"}[field]
    raw[3] = raw[3].replace(value, value[:1] + b"\xff" + value[2:])
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"\n".join(raw) + b"\n")
    inp = write(tmp_path / "in.jsonl", ['{"custom_id":"r0","body":{}}'])
    assert_paths_refuse(out, inp, "line 4: not valid JSON")  # joined to inputs: checked beside the join
    for read in (mod.read_result_file, lambda path: BatchResults(path).to_dataframe()):  # checked at once
        with pytest.raises(ValueError, match="line 4: not valid JSON"):
            read(out)
