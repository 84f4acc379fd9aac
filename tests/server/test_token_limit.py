"""--enqueued-token-limit: a batch that would put a model's enqueued (not yet terminal) estimated input tokens
over the limit fails as on OpenAI, with token_limit_exceeded; finished batches no longer count."""

from server_helpers import jsonl, make_client, request_line, submit, wait_for

from batch_widgets.server.local import LocalBatchServer
from batch_widgets.tokens import estimate_input_tokens, estimate_lines_tokens


def test_estimate_is_compact_json_over_four_and_matches_simulated_usage(tmp_path):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "héllo " * 40}]}
    assert (
        estimate_input_tokens(body)
        == len('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + "héllo " * 40 + '"}]}') // 4
    )
    lines = [request_line(i) for i in range(5)]
    assert estimate_lines_tokens(jsonl(lines).splitlines() + [b"", b"not json"]) == sum(
        estimate_input_tokens(x["body"]) for x in lines
    )
    with LocalBatchServer(tmp_path, rate=0, poll_interval=0.05) as server, make_client(server) as client:
        batch = wait_for(client, submit(client, 5).id)
        assert batch.usage.input_tokens == estimate_lines_tokens(jsonl(lines).splitlines())


def test_batch_over_the_enqueued_limit_fails_like_openai(tmp_path):
    per_batch = estimate_lines_tokens(jsonl([request_line(i) for i in range(20)]).splitlines())
    limit = per_batch + per_batch // 2  # one batch fits, two do not
    with (
        LocalBatchServer(tmp_path, rate=20, poll_interval=0.05, enqueued_token_limit=limit) as server,
        make_client(server) as client,
    ):
        first = submit(client, 20)
        wait_for(client, first.id, statuses=("in_progress",))
        second = wait_for(client, submit(client, 20).id)
        assert second.status == "failed" and second.failed_at and second.request_counts.total == 0
        (error,) = second.errors.data
        assert error.code == "token_limit_exceeded" and error.line is None
        assert error.message.startswith("Enqueued token limit reached for gpt-4o-mini in organization ")
        assert f"Limit: {limit:,} enqueued tokens." in error.message
        # Another model has its own allowance.
        other = submit(client, lines=[request_line(i, model="gpt-4.1-mini") for i in range(20)])
        assert wait_for(client, other.id, statuses=("in_progress", "completed")).status != "failed"
        # Once the first batch is terminal its tokens no longer count.
        client.batches.cancel(first.id)
        wait_for(client, first.id)
        third = wait_for(client, submit(client, 20).id, statuses=("in_progress", "completed", "failed"))
        assert third.status != "failed"
