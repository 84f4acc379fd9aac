"""Webhooks as OpenAI sends them: a small receiver on 127.0.0.1 checks each delivery with the official SDK's
``client.webhooks.unwrap``; failed deliveries are retried with the same id, also across a server restart."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from server_helpers import make_client, submit, wait_for

from batch_widgets import verify_webhook
from batch_widgets.server.local import LocalBatchServer
from batch_widgets.webhooks import WebhookVerificationError, sign_webhook

SECRET = "whsec_" + base64.b64encode(b"local-webhook-secret-0123456789ab").decode()


class Receiver:
    """Records every POST; answers 500 to the first ``fail_first`` of them."""

    def __init__(self, fail_first=0):
        self.deliveries, self.fail_first = [], fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(receiver.deliveries) <= receiver.fail_first else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n, timeout=15.0):
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < n:
            assert time.monotonic() < deadline, f"{len(self.deliveries)} deliveries, wanted {n}"
            time.sleep(0.05)
        return self.deliveries

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def unwrap(headers, body):
    return openai.OpenAI(api_key="unused").webhooks.unwrap(body, headers, secret=SECRET)


def test_each_terminal_event_is_sent_signed_as_openai_does(tmp_path, receiver):
    with (
        LocalBatchServer(
            tmp_path, rate=0, window_seconds=1, poll_interval=0.05, webhook_url=receiver.url, webhook_secret=SECRET
        ) as server,
        make_client(server) as client,
    ):
        completed = wait_for(client, submit(client, 3).id)
        bad = client.files.create(file=("bad.jsonl", b"not json\n"), purpose="batch")
        failed = client.batches.create(input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h")
        events = {}
        for headers, body in receiver.wait(2):
            event = unwrap(headers, body)  # raises InvalidWebhookSignatureError if the signature is wrong
            events[event.type] = event
            assert headers["webhook-id"].startswith("wh_") and headers["content-type"] == "application/json"
            assert json.loads(body)["object"] == "event" and event.id.startswith("evt_")
            assert verify_webhook(body, headers, SECRET)["id"] == event.id
        assert events["batch.completed"].data.id == completed.id
        assert events["batch.failed"].data.id == wait_for(client, failed.id).id
        assert isinstance(events["batch.completed"].created_at, int)
        with pytest.raises(openai.InvalidWebhookSignatureError):
            openai.OpenAI(api_key="unused").webhooks.unwrap(body, headers, secret="whsec_" + "A" * 44)


def test_cancelled_and_expired_events(tmp_path, receiver):
    with (
        LocalBatchServer(
            tmp_path, rate=20, window_seconds=2, poll_interval=0.05, webhook_url=receiver.url, webhook_secret=SECRET
        ) as server,
        make_client(server) as client,
    ):
        cancelled = submit(client, 200)
        wait_for(client, cancelled.id, statuses=("in_progress",))
        client.batches.cancel(cancelled.id)
        expired = submit(client, 200)
        types = {}
        for headers, body in receiver.wait(2, timeout=20):
            event = unwrap(headers, body)
            types[event.data.id] = event.type
        assert types == {cancelled.id: "batch.cancelled", expired.id: "batch.expired"}


def test_failed_deliveries_are_retried_with_the_same_id_across_a_restart(tmp_path):
    receiver = Receiver(fail_first=10**6)  # down: every attempt fails
    try:
        with (
            LocalBatchServer(
                tmp_path, rate=0, poll_interval=0.05, webhook_url=receiver.url, webhook_secret=SECRET
            ) as server,
            make_client(server) as client,
        ):
            batch = wait_for(client, submit(client, 2).id)
            first, second = receiver.wait(2, timeout=10)  # retried after ~1 s of backoff
        assert first[0]["webhook-id"] == second[0]["webhook-id"] and first[1] == second[1]
        receiver.fail_first = 0  # back up
        with LocalBatchServer(tmp_path, rate=0, poll_interval=0.05, webhook_url=receiver.url, webhook_secret=SECRET):
            deliveries = receiver.wait(3, timeout=10)
            time.sleep(0.5)
        headers, body = deliveries[2]
        assert headers["webhook-id"] == first[0]["webhook-id"] and body == first[1]
        assert unwrap(headers, body).data.id == batch.id
        assert len(receiver.deliveries) == 3  # delivered once: not sent again
    finally:
        receiver.close()


def test_verify_webhook_rejects_tampering_age_and_missing_headers():
    body = b'{"id":"evt_1","object":"event","type":"batch.completed","created_at":1,"data":{"id":"batch_1"}}'
    now = int(time.time())
    headers = {
        "webhook-id": "wh_1",
        "webhook-timestamp": str(now),
        "webhook-signature": "v1,bogus " + sign_webhook(SECRET, "wh_1", now, body),
    }
    assert verify_webhook(body, headers, SECRET)["data"]["id"] == "batch_1"
    unwrap(headers, body)  # the SDK agrees
    for bad_body, bad_headers, why in [
        (body.replace(b"batch_1", b"batch_2"), headers, "does not match"),
        (body, {**headers, "webhook-timestamp": str(now - 301)}, "older than"),
        (body, {k: v for k, v in headers.items() if k != "webhook-id"}, "webhook-id"),
    ]:
        with pytest.raises(WebhookVerificationError, match=why):
            verify_webhook(bad_body, bad_headers, SECRET)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, "whsec_" + base64.b64encode(b"another").decode())
