import json

import pandas as pd
import pyarrow as pa
import pytest

from batch_widgets.results import RESULT_COLUMNS, BatchResults, _read_fast, read_result_file


def chat_line(cid, content="hi", finish="stop", model="gpt-4o-mini-2024-07-18", prompt=10, completion=3, cached=0):
    return {
        "id": f"batch_req_{cid}",
        "custom_id": cid,
        "error": None,
        "response": {
            "status_code": 200,
            "request_id": "req_1",
            "body": {
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            },
        },
    }


def http_error_line(cid, code="context_length_exceeded", status=400):
    return {
        "id": f"batch_req_{cid}",
        "custom_id": cid,
        "error": None,
        "response": {
            "status_code": status,
            "request_id": "req_2",
            "body": {
                "error": {"message": "too long", "type": "invalid_request_error", "param": "messages", "code": code}
            },
        },
    }


def expired_line(cid):
    return {
        "id": f"batch_req_{cid}",
        "custom_id": cid,
        "response": None,
        "error": {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        },
    }


def write(path, objs, trailing="\n"):
    path.write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in objs) + trailing, encoding="utf-8")
    return path


def input_line(cid, prompt):
    return {
        "custom_id": cid,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]},
    }


@pytest.fixture
def files(tmp_path):
    out = write(
        tmp_path / "out.jsonl",
        [chat_line("c", "third 😀", cached=4), chat_line("a", "first", finish="length")],
        trailing="\n\n\n",
    )
    err = write(tmp_path / "err.jsonl", [http_error_line("b"), expired_line("d")])
    inp = write(tmp_path / "in.jsonl", [input_line(c, f"prompt {c}") for c in "abcde"])
    return out, err, inp


@pytest.mark.parametrize("fast", [True, False])
def test_joined_frame_has_one_row_per_input_in_input_order(files, fast):
    out, err, inp = files
    df = BatchResults(out, err, inp, fast=fast).to_dataframe()
    assert list(df.columns) == [*RESULT_COLUMNS, "input", "body"]
    assert df["custom_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert df["status"].tolist() == ["ok", "error", "ok", "not_executed", "not_executed"]
    assert df["ok"].tolist() == [True, False, True, False, False]
    assert df["ok"].dtype == bool
    a, b, c, d, e = (df.iloc[i] for i in range(5))
    assert (a.text, a.finish_reason, a.status_code, a.input_tokens, a.output_tokens) == ("first", "length", 200, 10, 3)
    assert c.text == "third 😀" and c.cached_tokens == 4 and c.model == "gpt-4o-mini-2024-07-18"
    assert (b.status_code, b.error_code, b.error_message) == (400, "context_length_exceeded", "too long")
    assert d.error_code == "batch_expired" and pd.isna(d.status_code)
    assert pd.isna(e.error_code) and pd.isna(e.text)  # in neither file
    assert a.input == "prompt a" and json.loads(a.body)["model"] == "gpt-4o-mini"


def test_failed_ids_and_failed_requests_for_retry(files):
    results = BatchResults(*files)
    assert results.failed_custom_ids() == ["b", "d", "e"]
    assert [x["custom_id"] for x in results.failed_requests()] == ["b", "d", "e"]
    assert results.failed_requests()[0]["body"]["messages"][0]["content"] == "prompt b"


def test_usage_and_cost_from_results(files):
    results = BatchResults(*files)
    assert results.usage() == (20, 6, 4)
    cost, source = results.cost()
    assert source == "results" and cost == pytest.approx(((16 * 0.15 + 4 * 0.075 + 6 * 0.60) / 1e6) * 0.5)


def test_strings_are_arrow_backed_and_counts_nullable_ints(files):
    df = BatchResults(*files).to_dataframe()
    assert df["text"].dtype.storage == "pyarrow" and df["error_message"].dtype.storage == "pyarrow"
    assert str(df["input_tokens"].dtype) == "Int64"


def test_empty_choices_error_only_and_empty_files(tmp_path):
    empty_choices = chat_line("x")
    empty_choices["response"]["body"]["choices"] = []
    df = read_result_file(write(tmp_path / "o.jsonl", [empty_choices, chat_line("y", "ok")]))
    assert df["ok"].tolist() == [True, True]
    assert pd.isna(df.loc[0, "text"]) and df.loc[1, "text"] == "ok"
    only_errors = read_result_file(write(tmp_path / "e.jsonl", [expired_line("z")]))
    assert only_errors["status"].tolist() == ["not_executed"]
    (tmp_path / "zero.jsonl").write_bytes(b"")
    assert len(read_result_file(tmp_path / "zero.jsonl")) == 0
    assert list(read_result_file(tmp_path / "zero.jsonl").columns) == list(RESULT_COLUMNS)
    # Azure: completed with no output file and a 0-byte error file; inputs all become "not executed".
    inputs = write(tmp_path / "i.jsonl", [input_line("q", "p")])
    df = BatchResults(None, tmp_path / "zero.jsonl", inputs).to_dataframe()
    assert df["status"].tolist() == ["not_executed"]


def test_completions_responses_and_embeddings(tmp_path):
    lines = [
        {
            "custom_id": "cmp",
            "response": {
                "status_code": 200,
                "body": {
                    "model": "gpt-3.5-turbo-instruct",
                    "choices": [{"text": "done", "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 2, "completion_tokens": 16},
                },
            },
        },
        {
            "custom_id": "rsp",
            "response": {
                "status_code": 200,
                "body": {
                    "object": "response",
                    "model": "gpt-4.1",
                    "status": "completed",
                    "output": [
                        {"type": "reasoning", "summary": []},
                        {
                            "type": "message",
                            "content": [
                                {"type": "output_text", "text": "A. "},
                                {"type": "refusal", "refusal": "no"},
                                {"type": "output_text", "text": "B."},
                            ],
                        },
                    ],
                    "usage": {"input_tokens": 7, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 1}},
                },
            },
        },
        {
            "custom_id": "emb",
            "response": {
                "status_code": 200,
                "body": {
                    "model": "text-embedding-3-small",
                    "data": [{"index": 0, "embedding": [0.5, -0.25]}],
                    "usage": {"prompt_tokens": 3, "total_tokens": 3},
                },
            },
        },
    ]
    for fast in (True, False):
        df = read_result_file(write(tmp_path / "m.jsonl", lines), fast=fast).set_index("custom_id")
        assert df.loc["cmp", "text"] == "done" and df.loc["cmp", "finish_reason"] == "length"
        assert df.loc["rsp", "text"] == "A. B." and df.loc["rsp", "finish_reason"] == "completed"
        assert (df.loc["rsp", "input_tokens"], df.loc["rsp", "cached_tokens"]) == (7, 1)
        assert list(df.loc["emb", "embedding"]) == [0.5, -0.25]
        assert pd.isna(df.loc["emb", "text"])


def test_fast_and_fallback_paths_agree(tmp_path, files):
    out, err, _ = files
    for path in (out, err):
        pd.testing.assert_frame_equal(read_result_file(path), read_result_file(path, fast=False))


def test_fallback_reads_what_pyarrow_rejects(tmp_path, caplog):
    # base64 embeddings (a string where the schema expects a list) and a plain-text error body
    lines = [
        {
            "custom_id": "b64",
            "response": {
                "status_code": 200,
                "body": {
                    "model": "text-embedding-3-small",
                    "data": [{"embedding": "AAAAPw=="}],
                    "usage": {"prompt_tokens": 1},
                },
            },
        },
        {"custom_id": "txt", "response": {"status_code": 502, "body": "Bad gateway"}, "error": None},
        chat_line("fine", "yes"),
    ]
    path = write(tmp_path / "odd.jsonl", lines)
    with pytest.raises(pa.ArrowInvalid):
        _read_fast(path)  # the fast path alone rejects this file...
    with caplog.at_level("INFO", logger="batch_widgets"):
        df = read_result_file(path).set_index("custom_id")
    assert "line by line" in caplog.text  # ...and read_result_file falls back
    assert df.loc["txt", "status"] == "error" and df.loc["txt", "error_message"] == "Bad gateway"
    assert df.loc["txt", "status_code"] == 502
    assert df.loc["fine", "text"] == "yes"
    assert df.loc["b64", "ok"]


def test_broken_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(chat_line("a")) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: not valid JSON"):
        read_result_file(path)


def test_lines_longer_than_a_block_are_read(tmp_path, monkeypatch):
    from batch_widgets import results as mod

    monkeypatch.setattr(mod, "_BLOCK_SIZE", 1 << 10)
    path = write(tmp_path / "long.jsonl", [chat_line("long", "x" * 5000), chat_line("short")])
    df = mod._to_pandas(mod._read_fast(path))
    assert len(df.loc[0, "text"]) == 5000 and df.loc[1, "text"] == "hi"


def test_results_without_inputs_keep_result_order(files):
    out, err, _ = files
    df = BatchResults(out, err).to_dataframe()
    assert df["custom_id"].tolist() == ["c", "a", "b", "d"]
    assert BatchResults(out, err).failed_custom_ids() == ["b", "d"]
    with pytest.raises(ValueError, match="input file is not available"):
        BatchResults(out, err).failed_requests()


def test_frames_with_and_without_inputs_are_cached_separately(files):
    results = BatchResults(*files)
    assert len(results.to_dataframe(include_inputs=False)) == 4  # the result lines only
    full = results.to_dataframe()
    assert len(full) == 5 and "input" in full.columns
    full.loc[0, "text"] = "changed"
    assert results.to_dataframe().loc[0, "text"] == "first"  # callers get copies


@pytest.mark.parametrize(
    "rows",
    [
        [["a"], None, [], [None], ["bb"], None],  # at most one element: text bytes are shared
        [["a", "x"], None, [], ["bb"], [None, "y"], ["ccc"]],  # several elements: taken one by one
        [["a"], ["b"], ["c"]],  # exactly one each: no work at all
    ],
)
def test_first_element_of_lists_matches_plain_python(rows):
    from batch_widgets.results import _first

    lists = pa.array(
        [None if r is None else [{"t": v} for v in r] for r in rows], pa.list_(pa.struct([("t", pa.string())]))
    )
    expected = [r[0] if r else None for r in rows]
    assert _first(lists, "t").to_pylist() == expected
    for start in range(1, len(rows)):  # slices keep their offsets into the shared child values
        assert _first(lists.slice(start), "t").to_pylist() == expected[start:]


def test_missing_result_file_gives_a_clear_error_and_missing_inputs_a_warning(tmp_path, caplog):
    import sys
    from pathlib import Path

    from batch_widgets.client import BatchClient
    from batch_widgets.errors import NotFoundError

    sys.path.insert(0, str(Path(__file__).parent))
    from fake_batch_api import FakeBatchAPI

    api = FakeBatchAPI()
    out = write(tmp_path / "o.jsonl", [chat_line("a")])
    api.files["file-out"] = {
        "id": "file-out",
        "object": "file",
        "created_at": 1,
        "filename": "o",
        "purpose": "batch_output",
    }
    api.contents["file-out"] = out.read_bytes()
    gone = api.add_batch(status="completed", output_file_id="file-expired", request_counts={"total": 1, "completed": 1})
    kept = api.add_batch(
        status="completed",
        output_file_id="file-out",
        input_file_id="file-in-gone",
        request_counts={"total": 1, "completed": 1},
    )
    client = BatchClient(api_key="k", base_url="http://fake/v1", transport=api.transport(), max_retries=0)
    with pytest.raises(NotFoundError, match=f"result file of batch {gone['id']} is gone.*30 days"):
        client.results(gone["id"])
    with caplog.at_level("WARNING", logger="batch_widgets"):
        results = client.results(kept["id"])
    assert "is gone; results are not joined" in caplog.text
    assert results.inputs is None and results.to_dataframe()["custom_id"].tolist() == ["a"]
