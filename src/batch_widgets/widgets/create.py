"""Create a batch from the browser (a dropped JSONL file) or from Python (a path, a DataFrame, a list of dicts).

The browser checks the file first (js/lib/validate.js mirrors batch_widgets.validation), then sends it to the
kernel in chunks of at most 4 MiB as binary buffers (the kernel websocket caps one message at 10 MiB); each
chunk is written at its offset in a temporary file, so the kernel's memory stays flat:

    {"action": "create_begin", "upload_id", "name", "size", "chunks"}
    {"action": "create_chunk", "upload_id", "index"} + one buffer     (any order; each one acknowledged)
    {"action": "create_commit", "upload_id", "endpoint", "description", "tags", "completion_window"}

The kernel reassembles the chunks, validates again with the Python validator, uploads the file to the API and
creates the batch in a worker thread, reporting each phase through traits. Raw file content never rests in a
synced trait: only sizes, counts, problems and the new batch id do.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import threading
from typing import Any, Callable, Optional

import traitlets as t

from .. import validation
from ..facts import COMPLETION_WINDOWS, ENDPOINTS
from ..workflow import request_lines
from .base import BatchWidgetBase, PanelMixinBase, log

#: Largest chunk the browser may send (the kernel websocket caps one message at 10 MiB).
CHUNK_BYTES = 4 * 1024 * 1024
#: How many problems are sent to the browser; the full count is sent too.
MAX_SHOWN_PROBLEMS = 100
#: Largest file the browser may send: past one batch's caps it is created as a job (client.submit_job).
MAX_JOB_BYTES = 2 * 1024**3


def _problem_dict(problem: Any) -> dict[str, Any]:
    return {"line": problem.line, "code": problem.code, "message": problem.message, "field": problem.field}


class _ProgressFile:
    """An open binary file the HTTP client reads in chunks; each read reports how far the upload has gone."""

    def __init__(self, fh: Any, total: int, report: Callable[[int, int], None]) -> None:
        self._fh, self._total, self._report = fh, total, report
        self._last_pct = -1
        self.name = getattr(fh, "name", "upload.jsonl")

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(size)
        done = self._fh.tell()
        pct = int(done * 100 / self._total) if self._total else 100
        if pct != self._last_pct:  # at most ~100 trait updates per upload
            self._last_pct = pct
            self._report(done, self._total)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:  # lets the HTTP client size the body with fstat
        return self._fh.fileno()


class _Spool:
    """A file arriving from the browser: each chunk is written at its offset in a temporary file, so chunks may
    come in any order and the kernel's memory stays flat however big the file (up to 200 MB)."""

    def __init__(self, upload_id: str, name: str, size: int, count: int) -> None:
        fd, path = tempfile.mkstemp(prefix="batch_widgets-upload-", suffix=".jsonl")
        self.fh = os.fdopen(fd, "w+b")
        self.path = pathlib.Path(path)
        self.id, self.name, self.size, self.count = upload_id, name, size, count
        self.chunks: set[int] = set()
        self.received = 0

    def write(self, index: int, data: bytes) -> None:
        self.fh.seek(index * CHUNK_BYTES)
        self.fh.write(data)
        self.chunks.add(index)
        self.received += len(data)

    def missing(self) -> list[int]:
        return [i for i in range(self.count) if i not in self.chunks]

    def finish(self) -> pathlib.Path:
        """Close the file and hand it over (the caller deletes it)."""
        self.fh.close()
        return self.path

    def discard(self) -> None:
        self.fh.close()
        self.path.unlink(missing_ok=True)


def _preview(requests: Any) -> tuple[str, int, Any]:
    """(name, size in bytes, validation report) of requests given from Python, before anything is sent.

    The size caps are left out here: ``client.submit`` splits inputs over 50,000 requests or 200 MB into
    several batches. A path is streamed (constant memory, however big the file).
    """

    def checker_for(source: str) -> validation.LineValidator:
        return validation.LineValidator(None, source=source, max_requests=10**12, max_bytes=10**15)

    if isinstance(requests, (str, os.PathLike)):
        path = pathlib.Path(requests)
        if not path.is_file():
            raise FileNotFoundError(f"CreateBatch(requests=...): no such file: {path}")
        checker = checker_for(str(path))
        with open(path, "rb") as fh:
            for raw in fh:
                checker.feed(raw)
        return path.name, path.stat().st_size, checker.finish()
    if not isinstance(requests, (bytes, bytearray, list, tuple)) and not hasattr(requests, "columns"):
        raise TypeError(
            "CreateBatch(requests=...) takes a path to a JSONL file, JSONL bytes, a DataFrame or a list of dicts; "
            f"got {type(requests).__name__}"
        )
    lines, _source = request_lines(requests)  # the lines client.submit will send (DataFrames: build_requests)
    checker = checker_for("the requests")
    for raw in lines:
        checker.feed(raw)
    name = "DataFrame" if hasattr(requests, "columns") else "requests"
    return name, sum(len(raw) + 1 for raw in lines), checker.finish()


class CreateMixin(PanelMixinBase):
    """Traits and handlers of the Create panel; composed by ``CreateBatch`` and ``BatchDashboard``.

    The host (a BatchWidgetBase) connects its store first (``_connect_store``), then calls ``_create_setup()``;
    a created batch is handed to the store so the Active list shows it at once.
    """

    _create_endpoints = t.List(t.Unicode(), default_value=list(ENDPOINTS)).tag(sync=True)
    _create_windows = t.List(t.Unicode(), default_value=list(COMPLETION_WINDOWS)).tag(sync=True)
    #: Limits the browser checks before sending anything: the same numbers as the Python validator.
    _create_limits = t.Dict().tag(sync=True)
    #: idle | receiving | validating | invalid | uploading | creating | done | error
    _create_state = t.Unicode("idle").tag(sync=True)
    #: Browser -> kernel transfer, acknowledged chunk by chunk: {upload_id, received, total, chunks}.
    _create_transfer = t.Dict().tag(sync=True)
    #: Kernel -> API upload: {done, total} in bytes.
    _create_progress = t.Dict().tag(sync=True)
    _create_problems: t.List[Any] = t.List().tag(sync=True)
    _create_problem_count = t.Int(0).tag(sync=True)
    _create_error = t.Unicode("").tag(sync=True)
    #: The id of the batch just created ("" until then): the dashboard opens its details.
    _create_batch_id = t.Unicode("").tag(sync=True)
    #: Requests given from Python: {name, bytes, lines} (the browser then shows no file picker).
    _create_source = t.Dict().tag(sync=True)
    #: An input over one batch's caps was created as a job: {id, parts} ({} otherwise).
    _create_job = t.Dict().tag(sync=True)

    def _create_setup(self, requests: Any = None) -> None:
        self._create_limits = {
            "max_bytes": validation.MAX_FILE_BYTES,
            "max_requests": validation.MAX_REQUESTS,
            "max_job_bytes": MAX_JOB_BYTES,
            "chunk_bytes": CHUNK_BYTES,
            "max_shown_problems": MAX_SHOWN_PROBLEMS,
        }
        self._create_upload: Optional[_Spool] = None
        self._create_worker: Optional[threading.Thread] = None
        self._create_requests: Any = None  # requests given from Python, sent by client.submit
        if requests is not None:
            self.set_requests(requests)

    # -- requests given from Python ----------------------------------------------------------------------------

    def set_requests(self, requests: Any) -> None:
        """Use these requests (path, JSONL bytes, DataFrame or list of dicts) instead of a browser file."""
        name, size, report = _preview(requests)
        self._create_requests = requests
        with self.hold_sync():
            self._create_source = {"name": name, "bytes": size, "lines": report.line_count}
            self._create_batch_id = ""
            self._create_error = ""
        self._create_show_report(report, idle_state="idle")

    def _on_create_submit(self, msg: dict, _buffers: list) -> None:
        """Create the batch from the requests given in Python (no browser transfer)."""
        if self._create_requests is None:
            self._create_fail("No requests were given from Python: drop a JSONL file instead.")
            return
        options = self._create_options(msg)
        if options is None:
            return
        self._create_start(self._create_submit_run, (self._create_requests, options))

    # -- browser transfer --------------------------------------------------------------------------------------

    def _on_create_begin(self, msg: dict, _buffers: list) -> None:
        size, chunks = msg.get("size"), msg.get("chunks")
        if not isinstance(size, int) or not isinstance(chunks, int) or size < 0 or chunks < 0:
            self._create_fail("create_begin needs integer 'size' and 'chunks'.")
            return
        if chunks != -(-size // CHUNK_BYTES):
            self._create_fail(f"A {size}-byte file travels in {-(-size // CHUNK_BYTES)} chunks, not {chunks}.")
            return
        limit = self._create_limits["max_job_bytes"]
        if size > limit:  # the browser checks this first; a second check costs nothing
            self._create_fail(
                f"The file is {size} bytes; at most {limit} can be sent from the browser (a bigger "
                "one: client.submit_job(path) in Python). Nothing was sent."
            )
            return
        self._create_drop_upload()
        self._create_upload = _Spool(
            str(msg.get("upload_id") or ""), str(msg.get("name") or "upload.jsonl"), size, chunks
        )
        with self.hold_sync():
            self._create_state = "receiving"
            self._create_error = ""
            self._create_batch_id = ""
            self._create_problems = []
            self._create_problem_count = 0
            self._create_progress = {}
            self._create_transfer = {"upload_id": self._create_upload.id, "received": 0, "total": size, "chunks": 0}

    def _on_create_chunk(self, msg: dict, buffers: list) -> None:
        up = self._create_upload
        if up is None or str(msg.get("upload_id")) != up.id:
            self._create_fail("A file chunk arrived for an upload that was not started (or was abandoned).")
            return
        index = msg.get("index")
        if not isinstance(index, int) or not 0 <= index < up.count:
            self._create_fail(f"Chunk index {index!r} is outside 0..{up.count - 1}.")
            return
        if len(buffers) != 1:
            self._create_fail(f"Chunk {index} came with {len(buffers)} buffers instead of 1.")
            return
        data = buffers[0]
        length = memoryview(data).nbytes
        expected = min(CHUNK_BYTES, up.size - index * CHUNK_BYTES)
        if length != expected:
            self._create_fail(f"Chunk {index} holds {length} bytes; expected {expected}.")
            return
        if index in up.chunks:
            self._create_fail(f"Chunk {index} arrived twice.")
            return
        up.write(index, data)
        self._create_transfer = {
            "upload_id": up.id,
            "received": up.received,
            "total": up.size,
            "chunks": len(up.chunks),
        }

    def _on_create_commit(self, msg: dict, _buffers: list) -> None:
        up = self._create_upload
        if up is None or str(msg.get("upload_id")) != up.id:
            self._create_fail("Create was asked for an upload that was not started (or was abandoned).")
            return
        missing = up.missing()
        if missing:
            shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
            self._create_fail(
                f"{len(missing)} of {up.count} chunks never arrived (index {shown}); nothing was uploaded."
            )
            return
        options = self._create_options(msg)
        if options is None:
            return
        self._create_upload = None  # the worker owns the file now (and deletes it)
        self._create_start(self._create_upload_run, (up.finish(), up.name, options))

    def _on_create_reset(self, _msg: dict, _buffers: list) -> None:
        self._create_drop_upload()
        with self.hold_sync():
            self._create_state = "idle"
            self._create_error = ""
            self._create_problems = []
            self._create_problem_count = 0
            self._create_transfer = {}
            self._create_progress = {}
            self._create_batch_id = ""
            self._create_job = {}

    # -- validate, upload, create ------------------------------------------------------------------------------

    def _create_options(self, msg: dict) -> Optional[dict[str, Any]]:
        endpoint = msg.get("endpoint")
        if endpoint not in ENDPOINTS:
            self._create_fail(f"Unknown endpoint {endpoint!r}; choose one of {', '.join(ENDPOINTS)}.")
            return None
        window = msg.get("completion_window") or COMPLETION_WINDOWS[0]
        if window not in self._create_windows:
            self._create_fail(f"Unknown completion window {window!r}; choose one of {', '.join(self._create_windows)}.")
            return None
        from ..workflow import InvalidMetadataError, build_metadata  # the API's metadata limits, in one place

        description = str(msg.get("description") or "").strip() or None
        tags = [tag.strip() for tag in str(msg.get("tags") or "").split(",") if tag.strip()] or None
        try:
            metadata = build_metadata(description=description, tags=tags)
        except InvalidMetadataError as exc:
            self._create_fail(f"Description or tags: {exc}")
            return None
        return {"endpoint": endpoint, "completion_window": window, "metadata": metadata or None}

    def _create_show_report(self, report: Any, *, idle_state: str) -> bool:
        problems = list(report.problems)
        self._set(
            _create_problems=[_problem_dict(p) for p in problems[:MAX_SHOWN_PROBLEMS]],
            _create_problem_count=len(problems),
            _create_state=idle_state if report.ok else "invalid",
        )
        return bool(report.ok)

    def _create_start(self, target: Callable[..., None], args: tuple) -> None:
        if self._create_worker is not None and self._create_worker.is_alive():
            self._create_fail("A batch is being created already; wait for it to finish.")
            return
        with self.hold_sync():
            self._create_state = "validating"
            self._create_error = ""
            self._create_batch_id = ""
            self._create_job = {}

        # Handlers return at once (the kernel must keep reading messages); the worker reports through traits.
        def run() -> None:
            try:
                target(*args)
            except Exception as exc:  # shown in the panel: a worker thread has nowhere else to report
                log.warning("batch_widgets: create failed: %s", exc)
                self._create_fail(f"Creating the batch failed: {exc}")

        self._create_worker = threading.Thread(target=run, name="batch_widgets-create", daemon=True)
        self._create_worker.start()

    def _create_upload_run(self, path: pathlib.Path, name: str, options: dict[str, Any]) -> None:
        """A file from the browser: validate again, upload with byte progress, create; the file is then deleted."""
        try:
            # The whole file is checked; over one batch's caps it becomes a job of several parts.
            checker = validation.LineValidator(options["endpoint"], source=name, max_requests=10**12, max_bytes=10**15)
            with open(path, "rb") as fh:
                for raw in fh:
                    checker.feed(raw)
            report = checker.finish()
            if not self._create_show_report(report, idle_state="uploading"):
                return  # problems shown; nothing uploaded
            if report.line_count > validation.MAX_REQUESTS or path.stat().st_size > validation.MAX_FILE_BYTES:
                self._create_job_run(path, options)
                return
            client = self._create_client()
            size = path.stat().st_size
            self._set(_create_progress={"done": 0, "total": size})

            def progress(done: int, total: int) -> None:
                self._set(_create_progress={"done": done, "total": total})

            with open(path, "rb") as fh:
                file = client.upload_file(_ProgressFile(fh, size, progress), purpose="batch", filename=name)
        finally:
            path.unlink(missing_ok=True)
        self._set(_create_progress={"done": size, "total": size}, _create_state="creating")
        batch = client.create_batch(
            file.id, options["endpoint"], completion_window=options["completion_window"], metadata=options["metadata"]
        )
        self._create_done([batch])

    def _create_submit_run(self, requests: Any, options: dict[str, Any]) -> None:
        """Requests given from Python: client.submit validates, uploads and creates; past the per-batch caps,
        client.submit_job splits them into the parts of one job."""
        from ..errors import InputTooLargeError, InvalidRequestsError

        self._set(_create_state="uploading")
        client = self._create_client()
        args = {
            "endpoint": options["endpoint"],
            "metadata": options["metadata"],
            "completion_window": options["completion_window"],
        }
        job = None
        try:
            try:
                batches = [client.submit(requests, **args)]
            except InputTooLargeError:
                job = client.submit_job(requests, **args)
                batches = job.batches
        except InvalidRequestsError as exc:
            self._set(
                _create_problems=[_problem_dict(p) for p in exc.problems[:MAX_SHOWN_PROBLEMS]],
                _create_problem_count=len(exc.problems),
                _create_state="invalid",
            )
            return
        if job is not None:
            self._create_job_done(job)
        else:
            self._create_done(batches)

    def _create_job_run(self, path: pathlib.Path, options: dict[str, Any]) -> None:
        """A file over one batch's caps: split, uploaded and created as the parts of one job."""
        self._set(_create_state="creating")  # a worker thread: one writer
        self._create_job_done(self._create_client().submit_job(path, **options))

    def _create_job_done(self, job: Any) -> None:
        self._set(_create_job={"id": job.id, "parts": job.parts})
        self._create_done(job.batches)
        # After _create_done, so a dashboard's "created" notice does not hide this one.
        self._show_notice(
            f"The requests were over one batch's limits: job {job.id} was created with {job.parts} "
            "parts (its row in Active shows them all)."
        )

    def _create_done(self, batches: list) -> None:
        store = getattr(self, "_store", None)
        if store is not None:
            for batch in batches:
                store.put(batch)  # the Active list shows it without waiting for a poll
        self._set(_create_batch_id=batches[0].id, _create_state="done")

    def _create_client(self) -> Any:
        client = getattr(self, "_client", None)
        if client is None:
            raise RuntimeError("this panel has no client: it was not connected to a store")
        return client

    def _create_drop_upload(self) -> None:
        if self._create_upload is not None:
            self._create_upload.discard()
            self._create_upload = None

    def _create_fail(self, message: str) -> None:
        self._create_drop_upload()
        self._set(_create_state="error", _create_error=message)

    def close(self) -> None:
        """Close the widget; a file half received from the browser is deleted."""
        if getattr(self, "_create_upload", None) is not None:
            self._create_drop_upload()
        super().close()

    def wait_created(self, timeout: Optional[float] = None) -> str:
        """Block until the create started from the panel finishes; the new batch id ("" if it failed)."""
        worker = self._create_worker
        if worker is not None:
            worker.join(timeout)
        return self._create_batch_id


class CreateBatch(CreateMixin, BatchWidgetBase):
    """Create a batch: drop a JSONL file in the panel, or give ``requests`` (path, DataFrame, list of dicts).

    ``batch_id`` holds the new batch's id once it is created; the batch also appears in every panel that
    shares this connection's store (the Active list).
    """

    def __init__(self, client: Any = None, *, requests: Any = None, **kwargs: Any) -> None:
        super().__init__(_view="create", **kwargs)
        self._connect_store(client)
        self._create_setup(requests)

    @property
    def batch_id(self) -> str:
        """The id of the batch created from this panel ("" until then)."""
        return self._create_batch_id
