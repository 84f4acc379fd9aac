"""Each bad input line fails the batch during `validating`, with OpenAI's code and the 1-based line number."""

import json

import pytest
from server_helpers import CHAT, jsonl, request_line, upload, wait_for


def lines_with(bad_index, bad):
    lines = [json.dumps(request_line(i)) + "\n" for i in range(4)]
    lines[bad_index] = bad if isinstance(bad, str) else json.dumps(bad) + "\n"
    return "".join(lines).encode()


CASES = [
    ("invalid_json_line", 2, lines_with(1, '{"custom_id": "x", "method": \n')),
    ("duplicate_custom_id", 3, lines_with(2, request_line(0))),
    ("url_mismatch", 4, lines_with(3, request_line(3, url="/v1/embeddings"))),
    ("model_mismatch", 2, lines_with(1, request_line(1, model="gpt-4o"))),
    ("missing_custom_id", 1, lines_with(0, {"method": "POST", "url": CHAT, "body": {"model": "gpt-4o-mini"}})),
    ("invalid_method", 3, lines_with(2, {**request_line(2), "method": "GET"})),
    ("missing_body", 2, lines_with(1, {**request_line(1), "body": None})),
    ("missing_model", 2, lines_with(1, {**request_line(1), "body": {"messages": []}})),
    ("stream_not_supported", 4, lines_with(3, request_line(3, stream=True))),
    ("invalid_line", 2, lines_with(1, ["not", "an", "object"])),
]


@pytest.mark.parametrize("code,line,data", CASES, ids=[c[0] for c in CASES])
def test_bad_line_fails_batch_with_code_and_line(client, code, line, data):
    f = upload(client, data)
    batch = wait_for(client, client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h").id)
    assert batch.status == "failed"
    assert isinstance(batch.failed_at, int) and batch.in_progress_at is None
    assert [(e.code, e.line) for e in batch.errors.data] == [(code, line)]
    assert batch.errors.data[0].message
    assert batch.output_file_id is None and batch.error_file_id is None


def test_empty_file(client):
    f = upload(client, b"\n\n")
    batch = wait_for(client, client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h").id)
    assert [(e.code, e.line) for e in batch.errors.data] == [("empty_file", None)]


def test_every_problem_is_listed(client):
    data = b"".join([jsonl([request_line(0), request_line(0)]), b"oops\n", jsonl([request_line(3, model="x")])])
    f = upload(client, data)
    batch = wait_for(client, client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h").id)
    assert [(e.code, e.line) for e in batch.errors.data] == [
        ("duplicate_custom_id", 2),
        ("invalid_json_line", 3),
        ("model_mismatch", 4),
    ]


def test_too_many_tasks(client):
    # A real 50,001-line file (~4 MB of minimal requests): the cap is checked by the server, not patched.
    line = '{"custom_id":"r%d","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n'
    data = "".join(line % i for i in range(50_001)).encode()
    f = upload(client, data)
    batch = wait_for(client, client.batches.create(input_file_id=f.id, endpoint=CHAT, completion_window="24h").id)
    assert [(e.code, e.line) for e in batch.errors.data] == [("too_many_tasks", 50_001)]
