"""Results of batches that did not simply complete, and results joined back to the user's own rows."""

import json
import time

import pandas as pd
import pytest

from batch_widgets.client import BatchClient
from batch_widgets.errors import BatchFailedError
from batch_widgets.jsonl import build_requests, encode_line
from batch_widgets.results import BatchResults
from batch_widgets.server.local import LocalBatchServer

KEY = "states-test-key"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # 2 requests/s: a batch of 6 stays in progress for a few seconds
    with (
        LocalBatchServer(tmp_path_factory.mktemp("states"), api_key=KEY, rate=2, poll_interval=0.05) as server,
        BatchClient(api_key=KEY, base_url=server.base_url) as c,
    ):
        yield c


def wait_for(client, batch_id, statuses, timeout=20):
    deadline = time.monotonic() + timeout
    while (batch := client.retrieve_batch(batch_id)).status not in statuses:
        assert time.monotonic() < deadline, batch.status
        time.sleep(0.05)
    return batch


def test_a_batch_that_failed_validation_explains_itself_in_results_and_retry(client):
    good = encode_line(build_requests(["fine"], model="gpt-4o-mini")[0])
    upload = client.upload_file(good + b"\n" + good[:-1] + b"\n", filename="cut.jsonl")  # line 2 cut short
    batch = client.create_batch(upload.id, "/v1/chat/completions")
    batch = wait_for(client, batch.id, {"failed"})
    for call in (client.results, client.retry_failed):
        with pytest.raises(BatchFailedError) as caught:
            call(batch.id)
        text = str(caught.value)
        assert f"batch {batch.id} failed before running any request" in text
        assert "line 2: not valid JSON" in text and "(invalid_json_line)" in text
        assert "cut.jsonl" not in text and "_input.jsonl" not in text  # not our download's parse error
        assert [p.line for p in caught.value.problems] == [2]
    # The server names the column in the line, as the browser's validator does, not "column 1" past the newline.
    column = len(good)  # the cut line is len(good) - 1 characters: it fails just past its end
    assert f"at column {column} " in text


def test_rows_of_a_running_batch_read_pending_not_not_executed(client, caplog):
    batch = client.submit(build_requests([f"q{i}" for i in range(6)], model="gpt-4o-mini"))
    with caplog.at_level("WARNING", logger="batch_widgets"):
        results = client.results(batch.id)
    assert results.batch.is_active
    frame = results.to_dataframe()
    assert set(frame["status"]) == {"pending"} and not frame["ok"].any()
    assert "still" in caplog.text and "pending" in caplog.text
    joined = results.join(pd.DataFrame({"q": range(6)}))
    assert set(joined["status"]) == {"pending"}
    done = wait_for(client, batch.id, {"completed"})
    assert "pending" not in set(client.results(done.id).to_dataframe()["status"])


def chat(cid, text):
    return {"custom_id": cid, "response": {"status_code": 200, "body": {"choices": [{"message": {"content": text}}]}}}


@pytest.fixture
def harvest(tmp_path):
    """A user's frame with int ids, the requests built from it, and results for two of its three rows."""
    frame = pd.DataFrame({"id": [10, 20, 30], "text": ["a", "b", "c"]}, index=["x", "y", "z"])
    lines = build_requests(frame, prompt_column="text", custom_id_column="id", model="m")
    assert [line["custom_id"] for line in lines] == ["10", "20", "30"]
    out = tmp_path / "out.jsonl"
    out.write_text("\n".join(json.dumps(chat(cid, f"answer {cid}")) for cid in ("30", "10")))
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"\n".join(encode_line(line) for line in lines))
    return frame, BatchResults(out, None, inp)


def test_join_puts_answers_beside_the_users_rows_with_their_key_types(harvest):
    frame, results = harvest
    joined = results.join(frame, on="id")
    assert joined.index.tolist() == ["x", "y", "z"] and joined["id"].dtype == "int64"  # the user's rows, as they were
    assert joined["text"].tolist() == ["a", "b", "c"]  # the user's own column keeps its name...
    assert joined["text_result"].tolist()[::2] == ["answer 10", "answer 30"]  # ...the answer is beside it
    assert joined["status"].tolist() == ["ok", "not_executed", "ok"] and joined["ok"].dtype == bool
    assert joined["status_code"].dtype == "Int64"


def test_join_matches_float_ids_and_explains_a_wrong_column(harvest):
    frame, results = harvest
    floats = frame.assign(id=[10.0, 20.0, float("nan")])  # an int column that met a missing value
    joined = results.join(floats, on="id")
    assert joined["id"].dtype == "float64" and joined["status"].tolist() == ["ok", "not_executed", "not_executed"]
    assert (
        build_requests(floats.iloc[:2], prompt_column="text", custom_id_column="id", model="m")[0]["custom_id"] == "10"
    )  # never "10.0"
    with pytest.raises(ValueError, match="was 'text' the custom_id_column"):
        results.join(frame, on="text")
    with pytest.raises(KeyError, match="no such column"):
        results.join(frame, on="nope")
