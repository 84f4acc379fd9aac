import json

import pandas as pd
import pytest

from batch_widgets.errors import InvalidRequestsError
from batch_widgets.jsonl import build_requests, encode_line, read_jsonl, write_jsonl
from batch_widgets.validation import validate_requests


def test_prompts_from_dataframe_with_template_and_system_prompt():
    df = pd.DataFrame({"question": ["What is 2+2?", "Capital of France?"]})
    lines = build_requests(
        df,
        model="gpt-4o-mini",
        prompt_column="question",
        body_template={"temperature": 0, "max_tokens": 50},
        system_prompt="Be brief.",
    )
    assert [x["custom_id"] for x in lines] == ["request-0", "request-1"]
    first = lines[0]
    assert first["method"] == "POST" and first["url"] == "/v1/chat/completions"
    assert first["body"] == {
        "temperature": 0,
        "max_tokens": 50,
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
    }
    assert validate_requests(lines).ok


def test_ids_are_stable_and_custom_id_column_is_used():
    rows = [{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y"}]
    assert build_requests(rows, model="m") == build_requests(rows, model="m")
    lines = build_requests(rows, model="m", custom_id_column="id")
    assert [x["custom_id"] for x in lines] == ["a", "b"]


def test_messages_column_accepts_lists_and_json_text():
    rows = [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"messages": json.dumps([{"role": "user", "content": "yo"}])},
    ]
    lines = build_requests(rows, model="gpt-4o")
    assert lines[1]["body"]["messages"] == [{"role": "user", "content": "yo"}]


def test_body_column_keeps_complete_bodies_and_fills_model():
    rows = [{"body": {"model": "x", "messages": []}}, {"body": '{"messages": []}'}]
    lines = build_requests(rows, model="gpt-4o-mini")
    assert lines[0]["body"]["model"] == "x"
    assert lines[1]["body"]["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    "endpoint, field", [("/v1/embeddings", "input"), ("/v1/completions", "prompt"), ("/v1/responses", "input")]
)
def test_other_endpoints_put_the_prompt_in_their_field(endpoint, field):
    lines = build_requests(["hello"], endpoint=endpoint, model="m")
    assert lines[0]["body"] == {"model": "m", field: "hello"} and lines[0]["url"] == endpoint


def test_clear_errors_name_the_row_and_column():
    with pytest.raises(ValueError, match="row 1: column 'prompt' is empty"):
        build_requests(pd.DataFrame({"prompt": ["a", None]}), model="m")
    with pytest.raises(ValueError, match="no model"):
        build_requests(["a"])
    with pytest.raises(ValueError, match="cannot tell which column"):
        build_requests([{"q": "a"}], model="m")
    with pytest.raises(ValueError, match="row 0: column 'body' is not valid JSON"):
        build_requests([{"body": "{nope"}])


def test_write_and_read_round_trip_and_paths(tmp_path):
    lines = build_requests(["é 😀", "b"], model="m")
    path = write_jsonl(lines)
    try:
        assert path.suffix == ".jsonl"
        assert read_jsonl(path) == lines
        assert build_requests(path) == lines  # a .jsonl path holds complete lines
        assert path.read_bytes().count(b"\n") == 2
        assert encode_line(lines[0]).decode("utf-8").count("😀") == 1  # not \\u-escaped
    finally:
        path.unlink()
    csv = tmp_path / "prompts.csv"
    pd.DataFrame({"prompt": ["p0", "p1"]}).to_csv(csv, index=False)
    assert [x["body"]["messages"][0]["content"] for x in build_requests(csv, model="m")] == ["p0", "p1"]


def test_validation_uses_the_shared_validator_with_line_numbers(tmp_path):
    lines = build_requests(["a", "b", "c"], model="m")
    lines[2]["custom_id"] = "request-0"
    lines[1]["body"]["model"] = "other"
    report = validate_requests(lines, endpoint="/v1/chat/completions")
    assert not report.ok
    found = {(p.line, p.code) for p in report.problems}
    assert (3, "duplicate_custom_id") in found and (2, "model_mismatch") in found
    path = write_jsonl(lines, tmp_path / "in.jsonl")
    with pytest.raises(InvalidRequestsError) as info:
        validate_requests(path).raise_for_problems()
    assert "line 3" in str(info.value)
