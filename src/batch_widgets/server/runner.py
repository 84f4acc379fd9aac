"""The batch lifecycle, run on background threads of the server process (never in request handlers).

validating -> in_progress -> finalizing -> completed, or failed / cancelling -> cancelled / expired.

One scheduler thread per data directory owns the work: it holds an exclusive lock file, so two processes that
share a data dir never run the same batch twice; the other serves the API and takes over when the owner exits.
It starts one worker thread per active batch, including batches left active by a crash (resume). Workers save
results chunk by chunk, with the counts, in one transaction each; on resume they skip the requests already saved.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable, Optional

from ..facts import NOT_EXECUTED_CODES, TOKEN_LIMIT_CODE
from ..tokens import estimate_lines_tokens
from ..validation import validate_file
from .executor import Executor, usage_of
from .settings import ServerSettings
from .storage import Storage, new_id

if TYPE_CHECKING:
    from .webhooks import WebhookSender

log = logging.getLogger("batch_widgets.server")

__all__ = ["Runner"]

_UNRUN = {
    "cancelled": (NOT_EXECUTED_CODES["cancelled"], "This request was not executed because the batch was cancelled."),
    "expired": (
        NOT_EXECUTED_CODES["expired"],
        "This request could not be executed before the completion window expired.",
    ),
}
_STOP = "stop"  # the server is closing: leave the batch as it is, the next start resumes it


class Runner:
    def __init__(self, storage: Storage, executor: Executor, settings: ServerSettings) -> None:
        self.storage, self.executor, self.settings = storage, executor, settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._workers: dict[str, threading.Thread] = {}
        self._lock_file: Optional[IO[bytes]] = None
        self._thread: Optional[threading.Thread] = None
        self.webhooks: Optional["WebhookSender"] = None  # sends batch.* events from the process that runs batches

    # -- scheduler -----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bw-runner", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        self.executor.close()  # interrupts simulated sleeps and upstream retries
        if self._thread:
            self._thread.join(timeout)
        for worker in list(self._workers.values()):
            worker.join(timeout)
        if self.webhooks is not None:
            self.webhooks.stop()
        if self._lock_file:
            self._lock_file.close()  # releases the lock
            self._lock_file = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._own_lock():
                    if self.webhooks is not None:
                        self.webhooks.start()
                    self.storage.delete_expired_files()
                    for batch_id in self.storage.active_batch_ids():
                        worker = self._workers.get(batch_id)
                        if worker is None or not worker.is_alive():
                            worker = threading.Thread(
                                target=self._work, args=(batch_id,), daemon=True, name=f"bw-{batch_id}"
                            )
                            self._workers[batch_id] = worker
                            worker.start()
                    self._workers = {k: t for k, t in self._workers.items() if t.is_alive()}
            except Exception:  # keep scheduling; one bad pass must not stop the server's work for good
                log.exception("batch scheduler pass failed")
            self._wake.wait(self.settings.poll_interval)
            self._wake.clear()

    def _own_lock(self) -> bool:
        if self._lock_file is not None:
            return True
        fh = open(Path(self.storage.data_dir) / "runner.lock", "ab")
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no cross-process guard, one process per data dir
            pass
        except OSError:
            fh.close()
            return False
        self._lock_file = fh
        return True

    # -- one batch -----------------------------------------------------------------------------------------
    def _work(self, batch_id: str) -> None:
        try:
            status = self.storage.batch_status(batch_id)
            if status == "validating":
                status = self._validate(batch_id)
            if status == "in_progress":
                status = self._execute(batch_id)
            if status in ("finalizing", "cancelling", "expired"):
                self._finalize(batch_id, {"finalizing": "completed", "cancelling": "cancelled"}.get(status, status))
        except Exception as exc:
            if self._stop.is_set():
                return
            log.exception("batch %s failed in the runner", batch_id)
            message = f"the local server failed: {type(exc).__name__}"
            self._set(
                batch_id,
                lambda d: d.update(
                    status="failed",
                    failed_at=_now(),
                    errors={
                        "object": "list",
                        "data": [{"code": "server_error", "line": None, "param": None, "message": message}],
                    },
                ),
            )
        finally:
            self.storage.release()

    def _doc(self, batch_id: str) -> dict:
        doc = self.storage.get_batch(batch_id)
        if doc is None:  # the runner only picks batches from this storage, and batches are never deleted
            raise LookupError(f"batch {batch_id} is not in the local server's storage")
        return doc

    def _set(self, batch_id: str, change) -> dict:
        return self.storage.update_batch(batch_id, change)[0]

    def _expired(self, doc: dict) -> bool:
        return doc.get("expires_at") is not None and time.time() >= doc["expires_at"]

    def _validate(self, batch_id: str) -> str:
        doc = self._doc(batch_id)
        if self._expired(doc):
            return "expired"
        path = self.storage.file_path(doc["input_file_id"])
        if path.exists():
            report = validate_file(path, endpoint=doc["endpoint"])
            problems = [
                {"code": p.code, "message": p.message, "param": p.field, "line": p.line} for p in report.problems
            ]
        else:
            report, problems = (
                None,
                [
                    {
                        "code": "file_not_found",
                        "line": None,
                        "param": "input_file_id",
                        "message": f"the input file {doc['input_file_id']} was deleted",
                    }
                ],
            )

        limit = self.settings.enqueued_token_limit
        estimate = None
        if report is not None and report.ok and limit is not None:
            with open(path, "rb") as fh:
                estimate = estimate_lines_tokens(fh)

        with self.storage.write() as db:

            def change(d: dict) -> str:
                if d["status"] != "validating":  # cancelled meanwhile
                    return d["status"]
                if (
                    report is not None
                    and estimate is not None
                    and limit is not None
                    and self.storage.enqueued_tokens(report.model, db) + estimate > limit
                ):
                    d.update(
                        status="failed",
                        failed_at=_now(),
                        model=report.model,
                        errors={"object": "list", "data": [_token_limit_error(report.model, limit)]},
                    )
                elif report is not None and report.ok:
                    d.update(status="in_progress", in_progress_at=_now(), model=report.model)
                    d["request_counts"]["total"] = report.line_count
                    _add_usage(d, [0, 0, 0, 0])
                else:
                    d.update(status="failed", failed_at=_now(), errors={"object": "list", "data": problems})
                return d["status"]

            status = self.storage.update_batch(batch_id, change, db)[1]
            if status == "in_progress" and estimate is not None:
                self.storage.set_batch_option(batch_id, "estimated_tokens", estimate, db)
        return status

    def _execute(self, batch_id: str) -> str:
        doc = self._doc(batch_id)
        done = self.storage.done_indices(batch_id)
        size = self.executor.chunk_size()
        chunk: list[tuple[int, str, dict]] = []
        with open(self.storage.file_path(doc["input_file_id"]), "rb") as fh:
            for idx, raw in enumerate(fh, start=1):
                if idx in done or not raw.strip():
                    continue
                obj = json.loads(raw)
                chunk.append((idx, obj["custom_id"], obj["body"]))
                if len(chunk) >= size:
                    outcome = self._run_chunk(doc, chunk)
                    if outcome:
                        return outcome
                    chunk = []
        outcome = self._run_chunk(doc, chunk) if chunk else self._check(doc)
        if outcome:
            return outcome

        def to_finalizing(d: dict) -> str:
            if d["status"] == "in_progress":
                d.update(status="finalizing", finalizing_at=_now())
            return d["status"]

        return self.storage.update_batch(batch_id, to_finalizing)[1]

    def _check(self, doc: dict) -> Optional[str]:
        """Why to stop before the next chunk, if anything: server closing, cancel requested, window passed."""
        if self._stop.is_set():
            return _STOP
        status = self.storage.batch_status(doc["id"])
        if status != "in_progress":
            return status
        return "expired" if self._expired(doc) else None

    def _run_chunk(self, doc: dict, chunk: list[tuple[int, str, dict]]) -> Optional[str]:
        reason = self._check(doc)
        if reason:
            return reason
        # The batch's sequence number names this attempt: a retried request gets a fresh draw of transient failures.
        salt = str(self.storage.batch_seq(doc["id"]))
        outcomes = self.executor.run(doc["endpoint"], [(cid, body) for _, cid, body in chunk], salt=salt)
        rows, ok_count, failed, tokens = [], 0, 0, [0, 0, 0, 0]
        for (idx, cid, _), outcome in zip(chunk, outcomes, strict=False):  # fewer outcomes: stopped, run later
            if outcome is None:
                continue
            status, body = outcome
            ok = 200 <= status < 300
            line = {
                "id": f"batch_req_{secrets.token_hex(12)}",
                "custom_id": cid,
                "response": {"status_code": status, "request_id": f"req_{secrets.token_hex(12)}", "body": body},
                "error": None,
            }
            rows.append((idx, int(ok), json.dumps(line, separators=(",", ":"))))
            if ok:
                ok_count += 1
                for i, n in enumerate(usage_of(body)):
                    tokens[i] += n
            else:
                failed += 1

        def count(d: dict) -> None:
            counts = d["request_counts"]
            counts["completed"] += ok_count
            counts["failed"] += failed
            _add_usage(d, tokens)

        if rows:
            self.storage.add_results(doc["id"], rows, count)
        return _STOP if self._stop.is_set() else None

    def _finalize(self, batch_id: str, terminal: str) -> None:
        doc = self._doc(batch_id)
        options = self.storage.batch_options(batch_id)
        unrun = self._unrun_lines(doc, *_UNRUN[terminal]) if terminal in _UNRUN else ()
        output = self._write_file(self.storage.result_lines(batch_id, ok=True))
        errors = self._write_file(itertools.chain(self.storage.result_lines(batch_id, ok=False), unrun))
        now = _now()
        seconds = (options.get("output_expires_after") or {}).get("seconds")
        expires_at = now + int(seconds) if seconds else None
        ids = {}
        with self.storage.write() as db:
            for key, written, kind in (("output_file_id", output, "output"), ("error_file_id", errors, "error")):
                if written:
                    file_id, nbytes = written
                    self.storage.add_file(
                        file_id, nbytes, now, f"{batch_id}_{kind}.jsonl", "batch_output", expires_at, db=db
                    )
                    ids[key] = file_id

            def close(d: dict) -> None:
                d.update(ids, status=terminal)
                d[f"{terminal}_at"] = now
                if terminal == "completed" and not d.get("finalizing_at"):
                    d["finalizing_at"] = now

            self.storage.update_batch(batch_id, close, db)
            self.storage.delete_results(batch_id, db)

    def _unrun_lines(self, doc: dict, code: str, message: str) -> Iterable[str]:
        done = self.storage.done_indices(doc["id"])
        path = self.storage.file_path(doc["input_file_id"])
        if not path.exists():
            return
        with open(path, "rb") as fh:
            for idx, raw in enumerate(fh, start=1):
                if idx in done or not raw.strip():
                    continue
                try:
                    cid = json.loads(raw).get("custom_id")
                except (ValueError, AttributeError):  # cancelled before validation: skip unparseable lines
                    continue
                if isinstance(cid, str):
                    yield json.dumps(
                        {
                            "id": f"batch_req_{secrets.token_hex(12)}",
                            "custom_id": cid,
                            "response": None,
                            "error": {"code": code, "message": message},
                        },
                        separators=(",", ":"),
                    )

    def _write_file(self, lines: Iterable[str]) -> Optional[tuple[str, int]]:
        """Write lines to a new file; (file id, size) or None when there were no lines."""
        tmp = self.storage.temp_path()
        nbytes = 0
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for line in lines:
                fh.write(line)
                fh.write("\n")
            nbytes = fh.tell()
        if nbytes == 0:
            tmp.unlink()
            return None
        file_id = new_id("file-")
        os.replace(tmp, self.storage.file_path(file_id))
        return file_id, nbytes


def _token_limit_error(model: Optional[str], limit: int) -> dict:
    # OpenAI's wording (openai/openai-python#2084); the organisation of a local server is "local".
    return {
        "code": TOKEN_LIMIT_CODE,
        "line": None,
        "param": None,
        "message": f"Enqueued token limit reached for {model} in organization org-local. Limit: {limit:,} "
        "enqueued tokens. Please try submitting fewer tasks or wait for other batches to finish.",
    }


def _add_usage(doc: dict, tokens: list[int]) -> None:
    usage = doc.get("usage") or {
        "input_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 0,
    }
    usage["input_tokens"] += tokens[0]
    usage["input_tokens_details"]["cached_tokens"] += tokens[1]
    usage["output_tokens"] += tokens[2]
    usage["output_tokens_details"]["reasoning_tokens"] += tokens[3]
    usage["total_tokens"] += tokens[0] + tokens[2]
    doc["usage"] = usage


def _now() -> int:
    return int(time.time())
