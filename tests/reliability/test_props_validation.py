"""Property-based tests of the one JSONL validator (batch_widgets.validation), used by the server and the API.

Whatever bytes arrive, the validator returns a report (never raises); every problem is located on a real line
(or None for whole-file problems) and carries a known code; generated valid files pass; and one planted defect
is reported with the right code on the right line.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from batch_widgets import facts
from batch_widgets.errors import InvalidRequestsError, LineProblem

validation = pytest.importorskip("batch_widgets.validation")  # lands with the server work (issue 3)

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = set(facts.VALIDATION_CODES)
WHOLE_FILE_CODES = {"empty_file", "too_many_tasks", "file_too_large"}
ENDPOINT = "/v1/chat/completions"


def check_report(report, n_lines):
    """The invariants every report keeps, whatever the input."""
    assert isinstance(report.ok, bool)
    assert report.ok == (not report.problems)
    for problem in report.problems:
        assert isinstance(problem, LineProblem)
        assert problem.code in CODES, problem
        assert problem.message, problem
        if problem.line is None:
            assert problem.code in WHOLE_FILE_CODES or problem.code in CODES, problem
        else:
            assert isinstance(problem.line, int) and 1 <= problem.line <= max(n_lines, 1), (problem, n_lines)
    if not report.ok:
        with pytest.raises(InvalidRequestsError) as caught:
            report.raise_for_problems()
        assert caught.value.problems == list(report.problems)
    else:
        report.raise_for_problems()


# Lines that look almost right are where validators crash: JSON of every shape, with request-ish keys.
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
request_ish = st.fixed_dictionaries(
    {},
    optional={
        "custom_id": st.one_of(st.text(max_size=6), json_values),
        "method": st.one_of(st.sampled_from(["POST", "post", "GET", ""]), json_values),
        "url": st.one_of(st.sampled_from([ENDPOINT, "/v1/embeddings", "", "chat"]), json_values),
        "body": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "model": st.one_of(st.sampled_from(["m1", "m2", ""]), json_values),
                    "stream": json_values,
                    "messages": json_values,
                },
            ),
            json_values,
        ),
    },
)
line_values = st.one_of(
    request_ish.map(json.dumps),
    json_values.map(lambda v: json.dumps(v)),
    st.text(max_size=40),
    st.binary(max_size=40),
)


@SETTINGS
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash(data):
    lines = data.split(b"\n")
    report = validation.validate_lines(lines)
    check_report(report, len(lines))


@SETTINGS
@given(st.lists(line_values, max_size=12), st.sampled_from([None, ENDPOINT, "/v1/embeddings"]))
def test_almost_valid_lines_never_crash(lines, endpoint):
    report = validation.validate_lines(lines, endpoint=endpoint)
    check_report(report, len(lines))


@SETTINGS
@given(st.lists(st.one_of(request_ish, json_values), max_size=10))
def test_arbitrary_request_dicts_never_crash(requests):
    report = validation.validate_requests(requests)
    check_report(report, len(requests))


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400))
def test_validate_file_on_arbitrary_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("v") / "input.jsonl"
    path.write_bytes(data)
    report = validation.validate_file(path)
    check_report(report, data.count(b"\n") + 1)


@st.composite
def valid_files(draw):
    """(lines, model): a valid chat-completions input file in one of many JSON spellings."""
    n = draw(st.integers(1, 25))
    model = draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12))
    ids = draw(st.lists(st.text(min_size=1, max_size=10), min_size=n, max_size=n, unique=True))
    ensure_ascii = draw(st.booleans())
    separators = draw(st.sampled_from([(", ", ": "), (",", ":")]))
    lines = []
    for custom_id in ids:
        body = {"model": model, "messages": [{"role": "user", "content": draw(st.text(max_size=20))}]}
        if draw(st.booleans()):
            body["max_tokens"] = draw(st.integers(1, 100))
        if draw(st.booleans()):
            body["stream"] = False
        request = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}
        lines.append(json.dumps(request, ensure_ascii=ensure_ascii, separators=separators))
    ending = draw(st.sampled_from(["", "\n", "\r\n"]))  # as iterated from a file, or split already
    lines = [line + ending for line in lines]
    as_bytes = draw(st.booleans())
    return ([line.encode() for line in lines] if as_bytes else lines), model


@SETTINGS
@given(valid_files(), st.sampled_from([None, ENDPOINT]))
def test_generated_valid_files_pass(file, endpoint):
    lines, model = file
    report = validation.validate_lines(lines, endpoint=endpoint)
    assert report.ok, report.problems
    assert report.line_count == len(lines)
    assert report.model == model
    assert report.endpoint == ENDPOINT


@SETTINGS
@given(valid_files())
def test_trailing_blank_line_is_tolerated(file):
    lines, _ = file
    blank = b"" if isinstance(lines[0], bytes) else ""
    report = validation.validate_lines([*lines, blank])
    assert report.ok, report.problems


# One planted defect -> (code, mutation of the request dict or the raw line).
DEFECTS = {
    "invalid_json_line": lambda r: json.dumps(r)[:-1],
    "duplicate_custom_id": None,  # handled below: copies another line's id
    "url_mismatch": lambda r: {**r, "url": "/v1/embeddings"},
    "model_mismatch": lambda r: {**r, "body": {**r["body"], "model": r["body"]["model"] + "-other"}},
    "missing_custom_id": lambda r: {k: v for k, v in r.items() if k != "custom_id"},
    "invalid_method": lambda r: {**r, "method": "GET"},
    "missing_body": lambda r: {k: v for k, v in r.items() if k != "body"},
    "missing_model": lambda r: {**r, "body": {k: v for k, v in r["body"].items() if k != "model"}},
    "stream_not_supported": lambda r: {**r, "body": {**r["body"], "stream": True}},
    "invalid_line": lambda r: [r],
}


@SETTINGS
@given(valid_files(), st.sampled_from(sorted(DEFECTS)), st.data())
def test_planted_defect_is_reported_on_its_line(file, code, data):
    lines, _ = file
    lines = [line.decode() if isinstance(line, bytes) else line for line in lines]
    assume(len(lines) >= 2)
    # Not line 1: the first line fixes the file's model, so a defect there would be blamed on the others.
    index = data.draw(st.integers(1, len(lines) - 1))
    request = json.loads(lines[index])
    blamed = {index + 1}
    if code == "duplicate_custom_id":
        first = data.draw(st.integers(0, index - 1))
        blamed.add(first + 1)  # blaming the first occurrence too is fair
        other = json.loads(lines[first])
        lines[index] = json.dumps({**request, "custom_id": other["custom_id"]})
    else:
        mutated = DEFECTS[code](request)
        lines[index] = mutated if isinstance(mutated, str) else json.dumps(mutated)
    report = validation.validate_lines(lines, endpoint=ENDPOINT)
    check_report(report, len(lines))
    assert not report.ok
    found = {(p.code, p.line) for p in report.problems}
    assert (code, index + 1) in found, (code, index + 1, report.problems)
    # Only the planted line is blamed.
    assert {p.line for p in report.problems} <= blamed, report.problems


def test_whole_file_problems_have_no_line():
    report = validation.validate_lines([])
    assert not report.ok
    assert [(p.code, p.line) for p in report.problems] == [("empty_file", None)]
    report = validation.validate_lines(["", "  "])
    assert not report.ok and all(p.line is None for p in report.problems if p.code == "empty_file")


def test_too_many_tasks_is_a_whole_file_problem():
    line = json.dumps({"custom_id": "{}", "method": "POST", "url": ENDPOINT, "body": {"model": "m"}})
    lines = (line.replace('"{}"', json.dumps(str(i))) for i in range(validation.MAX_REQUESTS + 1))
    report = validation.validate_lines(lines, endpoint=ENDPOINT)
    assert [p.code for p in report.problems] == ["too_many_tasks"]
    assert report.problems[0].line in (None, validation.MAX_REQUESTS + 1)


@SETTINGS
@given(st.lists(line_values, max_size=12), st.integers(0, 300), st.integers(0, 6))
def test_size_and_count_caps_on_arbitrary_lines(lines, max_bytes, max_requests):
    """The caps stop validation cleanly whatever the input: file_too_large is a whole-file problem."""
    checker = validation.LineValidator(None, max_bytes=max_bytes, max_requests=max_requests)
    for line in lines:
        checker.feed(line)
    report = checker.finish()
    check_report(report, len(lines))
    raw = [x if isinstance(x, bytes) else x.encode() for x in lines]
    total = sum(len(x) + (0 if x.endswith(b"\n") else 1) for x in raw)  # a newline is counted once
    if total > max_bytes:
        assert checker.stopped
        assert [p.line for p in report.problems if p.code == "file_too_large"] == [None]
