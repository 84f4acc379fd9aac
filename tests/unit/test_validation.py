import json

import pytest

from batch_widgets import facts
from batch_widgets.errors import InvalidRequestsError
from batch_widgets.validation import (
    CODES,
    MAX_FILE_BYTES,
    MAX_REQUESTS,
    LineValidator,
    validate_file,
    validate_lines,
    validate_requests,
)

EP = "/v1/chat/completions"


def req(i, **over):
    line = {
        "custom_id": f"r{i}",
        "method": "POST",
        "url": EP,
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {i}"}]},
    }
    line.update(over)
    return line


def jl(*objs):
    return [json.dumps(o) + "\n" for o in objs]


def codes(report):
    return [(p.line, p.code) for p in report.problems]


def test_valid_file_reports_model_endpoint_and_size(tmp_path):
    path = tmp_path / "in.jsonl"
    text = "".join(jl(*(req(i) for i in range(5))))
    path.write_text(text)
    report = validate_file(path, endpoint=EP)
    assert report.ok and report.problems == []
    assert report.line_count == 5
    assert report.model == "gpt-4o-mini"
    assert report.endpoint == EP
    assert report.size_bytes == len(text.encode())
    assert report.raise_for_problems() is report


def test_bytes_and_str_lines_are_equivalent():
    lines = jl(req(1), req(2))
    assert validate_lines([x.encode() for x in lines]).line_count == validate_lines(lines).line_count == 2


def test_each_problem_has_code_and_line():
    lines = jl(
        req(1),
        req(1),  # duplicate
        req(3, url="/v1/embeddings"),
        req(4, method="GET"),
        req(5, body={"messages": []}),
        req(6, body={"model": "gpt-4o", "messages": []}),
        req(7, body={"model": "gpt-4o-mini", "stream": True}),
        {"method": "POST", "url": EP, "body": {"model": "gpt-4o-mini"}},
        req(9, custom_id=9),
        req(10, body="text"),
        [1, 2],
    )
    lines.insert(11, "{not json\n")
    report = validate_lines(lines, endpoint=EP)
    assert codes(report) == [
        (2, "duplicate_custom_id"),
        (3, "url_mismatch"),
        (4, "invalid_method"),
        (5, "missing_model"),
        (6, "model_mismatch"),
        (7, "stream_not_supported"),
        (8, "missing_custom_id"),
        (9, "invalid_line"),
        (10, "missing_body"),
        (11, "invalid_line"),
        (12, "invalid_json_line"),
    ]
    assert "line 1" in report.problems[0].message
    assert report.problems[0].field == "custom_id"
    assert report.problems[4].field == "body.model"
    assert not report.ok and report.problem_count == 11
    assert {p.code for p in report.problems} <= set(CODES)


def test_messages_do_not_repeat_their_field():
    lines = jl(
        req(1),
        req(1),
        req(3, url="/v1/embeddings"),
        req(4, method="GET"),
        req(5, body={"model": "other"}),
        req(6, body={"model": "gpt-4o-mini", "stream": True}),
        {"method": "POST", "url": EP, "body": None},
    )
    report = validate_lines(lines, endpoint=EP)
    fielded = [p for p in report.problems if p.field]
    assert len(fielded) == len(report.problems) == 7
    for p in fielded:  # the field is shown beside the message, so the message must not start with it
        assert not p.message.startswith(p.field), (p.field, p.message)
    by_field = {(p.line, p.field): p.message for p in report.problems}
    assert by_field[(3, "url")] == "'/v1/embeddings' differs from the batch endpoint '/v1/chat/completions'"
    assert by_field[(2, "custom_id")] == "'r1' was already used on line 1"
    assert str(report.problems[1]).startswith("line 3 [url]: '/v1/embeddings' differs")
    body = validate_lines(jl(req(1, body=[1]))).problems[0]
    assert (body.field, body.message) == ("body", "must be a JSON object (got an array)")


def test_invalid_json_names_the_column_not_a_second_line_number():
    report = validate_lines(jl(req(1)) + ['{"custom_id": "r2",, "method": "POST"}\n'])
    (problem,) = report.problems
    assert (problem.line, problem.code) == (2, "invalid_json_line")
    assert problem.message == "not valid JSON: Expecting property name enclosed in double quotes at column 20"
    assert "line" not in problem.message


def test_url_must_match_first_line_when_no_endpoint_given():
    report = validate_lines(jl(req(1, url="/v1/embeddings"), req(2)))
    assert report.endpoint == "/v1/embeddings"
    assert codes(report) == [(2, "url_mismatch")]
    assert "first line" in report.problems[0].message


def test_empty_input_and_blank_lines():
    assert codes(validate_lines([])) == [(None, "empty_file")]
    assert codes(validate_lines(["\n", "  \n"])) == [(None, "empty_file")]
    # trailing blank lines are fine; interior ones are not
    assert validate_lines(jl(req(1), req(2)) + ["\n", "\n"]).ok
    report = validate_lines(jl(req(1)) + ["\n", "\r\n"] + jl(req(2)))
    assert codes(report) == [(2, "invalid_json_line"), (3, "invalid_json_line")]


def test_invalid_utf8_is_an_invalid_json_line():
    report = validate_lines([json.dumps(req(1)).encode() + b"\n", b'{"custom_id": "\xff"}\n'])
    assert codes(report) == [(2, "invalid_json_line")]


def test_too_many_tasks_reported_once_at_the_first_excess_line():
    checker = LineValidator(EP, max_requests=3)
    for line in jl(*(req(i) for i in range(5))):
        checker.feed(line)
    assert codes(checker.finish()) == [(4, "too_many_tasks")]
    assert MAX_REQUESTS == facts.MAX_REQUESTS


def test_size_cap_stops_reading():
    lines = jl(*(req(i) for i in range(10)))
    checker = LineValidator(EP, max_bytes=len(lines[0]) * 3)
    for line in lines:
        checker.feed(line)
    report = checker.finish()
    assert [p.code for p in report.problems] == ["file_too_large"]
    assert checker.stopped and report.line_count == 3
    assert MAX_FILE_BYTES == facts.MAX_FILE_BYTES


def test_problems_are_capped_but_all_counted():
    checker = LineValidator(EP, max_problems=5)
    for line in ["oops\n"] * 20:
        checker.feed(line)
    report = checker.finish()
    assert len(report.problems) == 5 and report.problem_count == 20


def test_raise_for_problems_lists_lines():
    report = validate_lines(jl(req(1), req(1)), endpoint=EP)
    with pytest.raises(InvalidRequestsError) as info:
        report.raise_for_problems()
    assert "line 2" in str(info.value) and "duplicate_custom_id" in str(info.value)
    assert info.value.problems == report.problems


def test_validate_requests_on_dicts():
    report = validate_requests([req(1), req(2, body={"model": "x"}), "nope", {"custom_id": "z", "x": {1, 2}}])
    assert codes(report) == [(2, "model_mismatch"), (3, "invalid_line"), (4, "invalid_line")]
    assert report.line_count == 4
    assert validate_requests([]).problems[0].code == "empty_file"


def test_validate_requests_takes_what_submit_takes(tmp_path):
    # A path is the file, not its name's letters (issue 19: "line 1..9: ... not a string").
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(jl(req(1))) + "{oops\n")
    report = validate_requests(path)
    assert codes(report) == [(2, "invalid_json_line")] and report.source == str(path)
    assert codes(validate_requests(str(path))) == [(2, "invalid_json_line")]
    assert codes(validate_requests(path.read_bytes())) == [(2, "invalid_json_line")]
    # Rows with build_requests' keywords, as submit(df, model=...) takes them.
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"prompt": ["a", "b"]})
    assert validate_requests(frame, model="m").line_count == 2
    assert validate_requests(["a", "b"], model="m").ok
    table = tmp_path / "rows.csv"
    frame.to_csv(table, index=False)
    assert validate_requests(table, model="m").line_count == 2
    with pytest.raises(ValueError, match="no model"):
        validate_requests(frame)
    with pytest.raises(TypeError, match="model"):
        validate_requests([req(1)], model="m")


def test_validate_file_streams_without_reading_whole_file(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w") as fh:
        for i in range(2000):
            fh.write(json.dumps(req(i)) + "\n")
    report = validate_file(path, endpoint=EP)
    assert report.ok and report.line_count == 2000 and report.source == str(path)
