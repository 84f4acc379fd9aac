"""Jobs: a run of any size as one object: split into parts, retried, merged, and resumable from the API alone.

    job = client.submit_job(df, model="gpt-4o-mini", description="Ticket triage", max_attempts=3)
    job.wait()                                   # one progress bar over every part and retry round
    frame = job.results().to_dataframe()         # one row per original request: its final outcome
    job = client.job("job_…")                    # after a restart: rebuilt from the provider's batches
    job.resume()                                 # submits what is missing; never a part twice

State lives at the provider. Every batch of a job carries in its metadata the job id (``group_id``), its part
(``group_part`` = ``k/n``), its retry round (``job_round``), the job's settings (``job_spec``), its estimated
input tokens (``job_tokens``) and, for retries, its parent (``parent_batch_id``). Before any batch is created
every part's input file is uploaded, named ``<job id>.part<k>of<n>.<tokens>t.jsonl``, so parts held back (or
not yet created when the process died) are found again by listing files. A retry round is built from its
parent batch's input file and results.

Nothing is submitted twice: a part or retry is created only when the job's batches hold no live batch for the
same part and round (a batch that failed with ``token_limit_exceeded`` never ran; its slot is open again), and
each create carries the client's create tag against ambiguous network failures.

The job logic is written once, as generators that yield API operations (:class:`_Op`); ``Job`` runs them with
a :class:`~batch_widgets.client.BatchClient`, ``AsyncJob`` awaits them with an ``AsyncBatchClient``.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Union,
)

from .display import Fields, RichDisplay
from .errors import BadRequestError, BatchWidgetsError, ConflictError, InvalidRequestsError, LineProblem
from .facts import (
    DEFAULT_COMPLETION_WINDOW,
    DESCRIPTION_KEY,
    EXPIRED,
    JOB_ID_KEY,
    JOB_PART_KEY,
    JOB_ROUND_KEY,
    JOB_SPEC_KEY,
    JOB_TOKENS_KEY,
    NOT_EXECUTED_CODES,
    PARENT_KEY,
    REQUEST_TAG_KEY,
    TOKEN_LIMIT_CODE,
)
from .models import Batch, BatchStatus, RequestCounts
from .tokens import estimate_lines_tokens
from .workflow import (
    Requests,
    build_metadata,
    endpoint_of,
    make_progress,
    request_lines,
)

if TYPE_CHECKING:
    import pandas as pd

    from .pricing import Pricing
    from .results import BatchResults

__all__ = [
    "DEFAULT_RETRY_ON",
    "AsyncJob",
    "Job",
    "JobResults",
    "NEVER_RETRIED",
    "estimate_tokens",
]

log = logging.getLogger(__name__)

#: Metadata keys of a job's batches (facts.JOB_*; the job id and part reuse the group keys).
JOB_KEYS = (JOB_ID_KEY, JOB_PART_KEY, JOB_ROUND_KEY, JOB_SPEC_KEY, JOB_TOKENS_KEY, PARENT_KEY, REQUEST_TAG_KEY)

#: Failures retried by default: timeouts, rate limits, server errors, and requests that never ran.
DEFAULT_RETRY_ON: tuple[Union[int, str], ...] = (408, 429, "5xx", NOT_EXECUTED_CODES[EXPIRED], "not_executed")
#: Failures a retry cannot fix (a bad request stays bad); documented, and refused in ``retry_on``'s defaults.
NEVER_RETRIED: tuple[int, ...] = (400, 401, 403, 404, 422)

_PART_FILE = re.compile(r"^(job_[0-9a-f]+)\.part(\d+)of(\d+)\.(\d+)t\.jsonl$")
_RETRY_CODE = re.compile(r"^(\d{3}|[1-5]xx|[a-z][a-z0-9_]*)$")


def estimate_tokens(line: bytes) -> int:
    """Estimated input tokens of one encoded request line: the one estimate of :mod:`batch_widgets.tokens`
    (compact-JSON body characters / 4), the same the local server's ``--enqueued-token-limit`` counts."""
    return max(1, estimate_lines_tokens((line,)))


class JobError(BatchWidgetsError):
    """A job cannot do what was asked (e.g. a part's input file is gone)."""


# --------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class JobSpec:
    """What a job was asked to do; travels in every batch's ``job_spec`` metadata."""

    requests: int
    max_attempts: int = 3
    retry_on: tuple[str, ...] = tuple(str(c) for c in DEFAULT_RETRY_ON)
    max_enqueued_tokens: Optional[int] = None

    def encode(self) -> str:
        tokens = "" if self.max_enqueued_tokens is None else str(self.max_enqueued_tokens)
        return (
            f"requests={self.requests};max_attempts={self.max_attempts};retry_on={','.join(self.retry_on)};"
            f"max_enqueued_tokens={tokens}"
        )

    @classmethod
    def decode(cls, text: Optional[str], requests: int = 0) -> "JobSpec":
        """The spec in ``text``; a batch split by an older ``submit`` (no spec) is a job of one attempt."""
        if not text:
            return cls(requests=requests, max_attempts=1)
        fields = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
        tokens = fields.get("max_enqueued_tokens") or None
        return cls(
            requests=int(fields.get("requests") or requests),
            max_attempts=int(fields.get("max_attempts") or 1),
            retry_on=tuple(c for c in (fields.get("retry_on") or "").split(",") if c),
            max_enqueued_tokens=int(tokens) if tokens else None,
        )


def _retry_codes(retry_on: Iterable[Union[int, str]]) -> tuple[str, ...]:
    codes = []
    for code in retry_on:
        text = str(code).strip().lower()
        if not _RETRY_CODE.match(text):
            raise ValueError(
                f"retry_on: {code!r} is neither an HTTP status (429), a class ('5xx') nor an error "
                "code ('batch_expired', 'not_executed')"
            )
        codes.append(text)
    return tuple(dict.fromkeys(codes))


def retryable_mask(frame: "pd.DataFrame", retry_on: Sequence[str]) -> "pd.Series":
    """Rows of a results frame whose failure ``retry_on`` retries (never a success)."""
    statuses = {int(c) for c in retry_on if c.isdigit()}
    classes = {int(c[0]) for c in retry_on if c.endswith("xx")}
    names = {c for c in retry_on if not c[0].isdigit()}
    code = frame["status_code"]
    mask = code.isin(statuses).fillna(False) | (code // 100).isin(classes).fillna(False)
    mask |= frame["error_code"].isin(names).fillna(False)
    if "not_executed" in names:
        mask |= frame["status"] == "not_executed"
    return (mask & ~frame["ok"].astype(bool)).astype(bool)


# --------------------------------------------------------------------------------------------- planning


def split_parts(
    lines: Sequence[bytes], tokens: Sequence[int], *, max_requests: int, max_bytes: int, max_tokens: Optional[int]
) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of at most ``max_requests`` lines, ``max_bytes`` bytes and ``max_tokens``."""
    ranges, start, size, used = [], 0, 0, 0
    for index, line in enumerate(lines):
        length, cost = len(line) + 1, tokens[index]
        if index > start and (
            index - start >= max_requests
            or size + length > max_bytes
            or (max_tokens is not None and used + cost > max_tokens)
        ):
            ranges.append((start, index))
            start, size, used = index, 0, 0
        size += length
        used += cost
    if lines:
        ranges.append((start, len(lines)))
    return ranges


def _validate_all(
    lines: Sequence[bytes], endpoint: Optional[str], source: str, endpoints: Optional[Sequence[str]] = None
) -> str:
    """Check the whole input at once (line numbers, duplicate ids and one model across every part); ``endpoints``
    are the urls the target accepts (``client.accepted_endpoints``)."""
    from .validation import LineValidator

    checker = LineValidator(
        endpoint, source=source, max_requests=len(lines) + 1, max_bytes=1 << 62, endpoints=endpoints
    )
    for raw in lines:
        checker.feed(raw)
    report = checker.finish()
    report.raise_for_problems()
    return report.endpoint or endpoint or ""


def new_job_id() -> str:
    """``job_`` + creation time (hex seconds, so listings can stop at older batches) + 12 random hex digits."""
    return f"job_{int(time.time()):08x}{uuid.uuid4().hex[:12]}"


def _job_time(job_id: str) -> Optional[int]:
    try:
        return int(job_id[4:12], 16) if job_id.startswith("job_") else None
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------- operations


@dataclass
class _Op:
    """One client call (or a pause) the job logic asks its driver to make."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


_Gen = Generator[_Op, Any, Any]


def _run_sync(client: Any, gen: _Gen) -> Any:
    value: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            op = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            if op.name == "sleep":
                client.sleep(*op.args)  # the client's sleep, as in wait() (tests inject theirs)
            elif op.name == "all_batches":
                value = list(client.iter_batches(**op.kwargs))
            else:
                value = getattr(client, op.name)(*op.args, **op.kwargs)
        except Exception as exc:  # handed back to the logic, which decides
            error = exc


async def _run_async(client: Any, gen: _Gen) -> Any:
    value: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            op = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            if op.name == "sleep":
                await client.sleep(*op.args)
            elif op.name == "all_batches":
                value = [b async for b in client.iter_batches(**op.kwargs)]
            else:
                value = await getattr(client, op.name)(*op.args, **op.kwargs)
        except Exception as exc:
            error = exc


# --------------------------------------------------------------------------------------------- state


def _meta(batch: Batch) -> dict[str, str]:
    return batch.metadata or {}


def _part_of(batch: Batch) -> tuple[int, int]:
    k, _, n = _meta(batch).get(JOB_PART_KEY, "1/1").partition("/")
    return int(k or 1), int(n or 1)


def _round_of(batch: Batch) -> int:
    return int(_meta(batch).get(JOB_ROUND_KEY) or 0)


def _tokens_of(batch: Batch) -> int:
    return int(_meta(batch).get(JOB_TOKENS_KEY) or 0)


def _is_void(batch: Batch) -> bool:
    """A batch refused for the enqueued-token limit never ran: it does not count, its slot is open again."""
    if batch.status != BatchStatus.FAILED or batch.errors is None:
        return False
    return any(e.code == TOKEN_LIMIT_CODE for e in batch.errors.data or [])


@dataclass
class _PartFile:
    file_id: str
    tokens: int


class _State:
    """Everything known about one job; rebuilt from batches and files alone."""

    def __init__(
        self,
        job_id: str,
        spec: JobSpec,
        parts: int,
        *,
        endpoint: str,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.job_id, self.spec, self.parts = job_id, spec, parts
        self.endpoint, self.completion_window = endpoint, completion_window
        self.metadata = dict(metadata or {})  # description, tags, the user's keys: copied to every batch
        self.batches: dict[str, Batch] = {}
        self.part_files: dict[int, _PartFile] = {}
        self.retry_ids: dict[str, list[str]] = {}  # terminal batch id -> its custom ids to retry
        self.token_hold_until = 0.0  # after a token-limit refusal: nothing new before this (monotonic)
        self.cancelled = False  # cancel() was called here: wait() submits nothing more
        self.driven = False  # this process submits what is due (submit_job, wait, resume)
        self.files_listed = False
        self._dir: Optional[str] = None

    # -- files downloaded for retries and results, kept for the job's lifetime
    @property
    def directory(self) -> Path:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix=f"{self.job_id}_")
            weakref.finalize(self, shutil.rmtree, self._dir, True)
        return Path(self._dir)

    def add(self, batch: Batch) -> None:
        self.batches[batch.id] = batch

    def chain(self, part: int) -> list[Batch]:
        """The part's live batches, round by round (one per round)."""
        live = [b for b in self.batches.values() if _part_of(b)[0] == part and not _is_void(b)]
        by_round: dict[int, Batch] = {}
        for batch in sorted(live, key=lambda b: (b.created_at, b.id)):
            by_round.setdefault(_round_of(batch), batch)  # a duplicate (should not happen) is ignored
        return [by_round[r] for r in sorted(by_round)]

    def voids(self, part: int, round_: int) -> list[Batch]:
        return [b for b in self.batches.values() if _part_of(b)[0] == part and _round_of(b) == round_ and _is_void(b)]

    def in_flight_tokens(self) -> int:
        return sum(_tokens_of(b) for b in self.batches.values() if b.is_active)

    def fits(self, tokens: int) -> bool:
        limit = self.spec.max_enqueued_tokens
        in_flight = self.in_flight_tokens()
        return limit is None or in_flight == 0 or in_flight + tokens <= limit

    def any_active(self) -> bool:
        return any(b.is_active for b in self.batches.values())

    def batch_metadata(self, part: int, round_: int, tokens: int, parent: Optional[str]) -> dict[str, str]:
        meta = {
            **self.metadata,
            JOB_ID_KEY: self.job_id,
            JOB_PART_KEY: f"{part}/{self.parts}",
            JOB_ROUND_KEY: str(round_),
            JOB_SPEC_KEY: self.spec.encode(),
        }
        if self.spec.max_enqueued_tokens is not None:
            meta[JOB_TOKENS_KEY] = str(tokens)
        if parent:
            meta[PARENT_KEY] = parent
        return build_metadata(meta)

    # -- where each part stands
    def part_state(self, part: int) -> str:
        """``active``, ``waiting`` (something to submit), ``unknown`` (failures not yet looked at), ``cancelled``
        or ``done``."""
        chain = self.chain(part)
        if not chain:
            return "active" if any(b.is_active for b in self.voids(part, 0)) else "waiting"
        last = chain[-1]
        if last.is_active or any(b.is_active for b in self.voids(part, _round_of(last) + 1)):
            return "active"
        if self.voids(part, _round_of(last) + 1):
            return "waiting"  # its retry was refused for the token limit
        if last.status == BatchStatus.CANCELLED:
            return "cancelled"
        if not self.may_retry(last):
            return "done"
        if last.id not in self.retry_ids:
            return "unknown"
        return "waiting" if self.retry_ids[last.id] else "done"

    def may_retry(self, batch: Batch) -> bool:
        """Whether a terminal batch could have requests to retry (without looking at its results)."""
        if _round_of(batch) + 1 >= self.spec.max_attempts or batch.status == BatchStatus.FAILED:
            return False
        counts = batch.request_counts
        return not (batch.status == BatchStatus.COMPLETED and counts.total and counts.completed == counts.total)

    def status(self) -> str:
        states = {self.part_state(k) for k in range(1, self.parts + 1)}
        if states & {"waiting", "unknown"} and not self.driven:
            return "incomplete"  # e.g. rebuilt after the process driving it died: resume() submits the rest
        if "active" in states:
            return "in_progress"
        if "cancelled" in states:
            return "cancelled"
        if states & {"waiting", "unknown"}:
            return "incomplete"
        return "completed"

    def display_status(self) -> str:
        """A status for live views, from the batches alone (no downloads): ``in_progress`` while a part runs,
        ``cancelled``, ``incomplete`` while a part or a refused part awaits submission, else ``completed``."""
        states = {self.part_state(k) for k in range(1, self.parts + 1)}
        for state in ("active", "cancelled", "waiting"):
            if state in states:
                return {"active": "in_progress", "waiting": "incomplete"}.get(state, state)
        return "completed"

    def counts(self) -> RequestCounts:
        """Requests settled (final outcome known) over the job's requests; failed = final failures so far."""
        done = failed = 0
        for part in range(1, self.parts + 1):
            chain = self.chain(part)
            # What a round retries was counted as done by the round before: take it back until it is done again.
            retried = sum(b.request_counts.total for b in chain[1:])
            done += sum(b.request_counts.done for b in chain) - retried
            failed += max(0, sum(b.request_counts.failed for b in chain) - retried)
        total = max(self.spec.requests, done)
        done = min(max(done, 0), total)
        failed = min(failed, done)
        return RequestCounts(total=total, completed=done - failed, failed=failed)


# --------------------------------------------------------------------------------------------- the logic


def _create_gen(state: _State, lines: list[bytes], tokens: list[int], ranges: list[tuple[int, int]]) -> _Gen:
    """Upload every part's input (named so it can be found again), then create what may start now."""
    from .jsonl import write_jsonl

    for part, (start, end) in enumerate(ranges, start=1):
        part_tokens = sum(tokens[start:end])
        path = write_jsonl(lines[start:end])
        name = f"{state.job_id}.part{part}of{len(ranges)}.{part_tokens}t.jsonl"
        try:
            uploaded = yield _Op("upload_file", (path,), {"purpose": "batch", "filename": name})
        finally:
            path.unlink(missing_ok=True)
        state.part_files[part] = _PartFile(uploaded.id, part_tokens)
    state.files_listed = True
    state.driven = True
    yield from _advance_gen(state, include_cancelled=False)


def _load_gen(job_id: str) -> _Gen:
    """Rebuild a job from the provider's batches (newest first, stopping well before the job began)."""
    started = _job_time(job_id)
    found: list[Batch] = []
    batches = yield _Op("all_batches")
    for batch in batches:
        if _meta(batch).get(JOB_ID_KEY) == job_id:
            found.append(batch)
    if not found:
        raise JobError(
            f"no batch of job {job_id!r} was found (was it created with this provider and key?)"
            + ("" if started else "; job ids look like 'job_…'")
        )
    return _state_from(job_id, found)


def _state_from(job_id: str, batches: list[Batch]) -> _State:
    first = min(batches, key=lambda b: (_round_of(b), b.created_at))
    meta = _meta(first)
    parts = max(_part_of(b)[1] for b in batches)
    spec = JobSpec.decode(
        meta.get(JOB_SPEC_KEY),
        requests=sum(b.request_counts.total for b in batches if _round_of(b) == 0 and not _is_void(b)),
    )
    user = {k: v for k, v in meta.items() if k not in JOB_KEYS}
    state = _State(
        job_id, spec, parts, endpoint=first.endpoint or "", completion_window=first.completion_window, metadata=user
    )
    for batch in batches:
        state.add(batch)
    return state


def _list_part_files_gen(state: _State) -> _Gen:
    """Find the uploaded inputs of the job's parts (needed only for parts never created)."""
    started = _job_time(state.job_id) or 0
    after = None
    while True:
        page = yield _Op("list_files", (), {"purpose": "batch", "limit": 10_000, "after": after, "order": "desc"})
        for item in page.data:
            match = _PART_FILE.match(item.filename or "")
            if match and match.group(1) == state.job_id:
                state.part_files.setdefault(int(match.group(2)), _PartFile(item.id, int(match.group(4))))
        older = [f for f in page.data if f.created_at and f.created_at < started - 3600]
        if not page.has_more or not page.data or older:
            break
        after = page.data[-1].id
    state.files_listed = True


def _refresh_gen(state: _State) -> _Gen:
    """Fetch every batch not yet known to be final."""
    for batch in list(state.batches.values()):
        if batch.is_active:
            state.add((yield _Op("retrieve_batch", (batch.id,))))


def _download_gen(state: _State, file_id: Optional[str], name: str) -> _Gen:
    if not file_id:
        return None
    path = state.directory / f"{file_id}_{name}.jsonl"
    if not path.exists():
        yield _Op("download_file", (file_id, path))
    return path


def _results_gen(state: _State, batch: Batch, include_inputs: bool = True) -> _Gen:
    from .errors import NotFoundError
    from .results import BatchResults

    output = yield from _download_gen(state, batch.output_file_id, "output")
    errors = yield from _download_gen(state, batch.error_file_id, "errors")
    inputs = None
    if include_inputs:
        try:
            inputs = yield from _download_gen(state, batch.input_file_id, "input")
        except NotFoundError:
            log.warning("input file %s of %s is gone; its rows are not joined to inputs", batch.input_file_id, batch.id)
    return BatchResults(output, errors, inputs, batch=batch)


def _classify_gen(state: _State, batch: Batch) -> _Gen:
    """Decide which requests of a terminal batch a retry would run (downloads its files once)."""
    if batch.id in state.retry_ids:
        return state.retry_ids[batch.id]
    ids: list[str] = []
    if state.may_retry(batch):
        counts = batch.request_counts
        if counts.total and counts.done == counts.total and batch.error_file_id:
            # Every request ran: the error file alone says what to retry (no need to read 50,000 inputs).
            from .results import read_result_file

            path = yield from _download_gen(state, batch.error_file_id, "errors")
            frame = read_result_file(path)
        else:  # some never ran: they are the inputs missing from both files
            frame = (yield from _results_gen(state, batch)).to_dataframe()
        ids = frame.loc[retryable_mask(frame, state.spec.retry_on), "custom_id"].astype(str).tolist()
    state.retry_ids[batch.id] = ids
    return ids


def _create_batch_gen(state: _State, file_id: str, part: int, round_: int, tokens: int, parent: Optional[str]) -> _Gen:
    """Create one batch of the job; a create refused for the token limit (Azure answers 400) holds the job."""
    meta = state.batch_metadata(part, round_, tokens, parent)
    try:
        batch = yield _Op(
            "create_batch", (file_id, state.endpoint), {"completion_window": state.completion_window, "metadata": meta}
        )
    except BadRequestError as exc:
        if exc.code != TOKEN_LIMIT_CODE:
            raise
        log.info("job %s: part %d round %d refused for the enqueued-token limit; holding", state.job_id, part, round_)
        state.token_hold_until = time.monotonic() + _TOKEN_HOLD
        return None
    state.add(batch)
    return batch


#: Seconds a job waits after a token-limit refusal before submitting again with nothing of its own in flight.
_TOKEN_HOLD = 30.0


def _advance_gen(state: _State, *, include_cancelled: bool) -> _Gen:
    """Submit what may start now: parts not yet created, retries due, parts refused for the token limit."""
    # Cancelled here, or elsewhere (a dashboard's Cancel on the job): submit nothing more until resume().
    halted = state.cancelled or any(
        chain[-1].status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED)
        for chain in (state.chain(k) for k in range(1, state.parts + 1))
        if chain
    )
    if halted and not include_cancelled:
        return
    for part in range(1, state.parts + 1):
        chain = state.chain(part)
        if chain and chain[-1].is_active:
            continue
        round_ = _round_of(chain[-1]) + 1 if chain else 0
        if any(b.is_active for b in state.voids(part, round_)):
            continue
        if chain:
            last = chain[-1]
            if last.status == BatchStatus.CANCELLED and not include_cancelled:
                continue
            if not state.may_retry(last):
                continue
        voids = state.voids(part, round_)
        if voids:
            # Refused for the token limit: wait for the job's running parts, then the same input again.
            if state.any_active() or time.monotonic() < state.token_hold_until or _holding(state, voids[-1]):
                continue
            tokens = _tokens_of(voids[0])
            yield from _create_batch_gen(
                state, voids[0].input_file_id, part, round_, tokens, _meta(voids[0]).get(PARENT_KEY)
            )
            continue
        if time.monotonic() < state.token_hold_until:
            continue
        if not chain:
            if part not in state.part_files and not state.files_listed:
                yield from _list_part_files_gen(state)
            source = state.part_files.get(part)
            if source is None:
                log.warning("job %s: the input of part %d was never uploaded; it cannot be created", state.job_id, part)
                continue
            if state.fits(source.tokens):
                yield from _create_batch_gen(state, source.file_id, part, 0, source.tokens, None)
            continue
        ids = yield from _classify_gen(state, last)
        if not ids:
            continue
        yield from _download_gen(state, last.input_file_id, "input")
        lines, tokens = _retry_lines(state, last, set(ids))
        if not state.fits(tokens):
            continue
        from .jsonl import write_jsonl

        path = write_jsonl(lines)
        try:
            uploaded = yield _Op(
                "upload_file",
                (path,),
                {"purpose": "batch", "filename": f"{state.job_id}.part{part}of{state.parts}.round{round_}.jsonl"},
            )
        finally:
            path.unlink(missing_ok=True)
        yield from _create_batch_gen(state, uploaded.id, part, round_, tokens, last.id)


def _holding(state: _State, void: Batch) -> bool:
    """A batch refused while none of the job's own was running was refused for other work at the provider:
    wait a while before trying again (when the job's own parts were running, their end was the wait)."""
    alone = not any(
        b.id != void.id
        and not _is_void(b)
        and b.created_at <= void.created_at
        and (b.ended_at or void.created_at) >= void.created_at
        for b in state.batches.values()
    )
    return alone and time.time() < (void.failed_at or void.created_at) + _TOKEN_HOLD


def _retry_lines(state: _State, parent: Batch, ids: set[str]) -> tuple[list[bytes], int]:
    """The parent's input lines (as uploaded, byte for byte) whose custom_id is to be retried."""
    import json

    path = state.directory / f"{parent.input_file_id}_input.jsonl"
    lines, tokens, counting = [], 0, state.spec.max_enqueued_tokens is not None
    with open(path, "rb") as handle:
        for raw in handle:
            raw = raw.rstrip(b"\r\n")
            if raw and str(json.loads(raw).get("custom_id")) in ids:
                lines.append(raw)
                if counting:
                    tokens += estimate_tokens(raw)
    return lines, tokens


def _cancel_gen(state: _State) -> _Gen:
    state.cancelled = True
    for batch in list(state.batches.values()):
        if batch.is_active and batch.status != BatchStatus.CANCELLING:
            try:
                state.add((yield _Op("cancel_batch", (batch.id,))))
            except ConflictError:  # it ended meanwhile
                state.add((yield _Op("retrieve_batch", (batch.id,))))


def _settle_gen(state: _State) -> _Gen:
    """Look at the failures of every finished part so that the status is exact."""
    for part in range(1, state.parts + 1):
        chain = state.chain(part)
        if chain and chain[-1].is_terminal and chain[-1].status != BatchStatus.CANCELLED:
            yield from _classify_gen(state, chain[-1])


def _wait_gen(
    job: "_JobBase",
    *,
    poll_interval: float,
    max_poll_interval: float,
    timeout: Optional[float],
    on_update: Optional[Callable[[Any], Any]],
    progress: bool,
) -> _Gen:
    state = job._state
    state.driven = True
    clock = job._client.clock  # the client's clock, as in wait()
    deadline = None if timeout is None else clock() + timeout
    reporter = make_progress(state.job_id) if progress else None
    interval, last = poll_interval, None
    try:
        while True:
            yield from _refresh_gen(state)
            yield from _advance_gen(state, include_cancelled=False)
            yield from _settle_gen(state)
            snapshot = (job.status, job.request_counts, len(state.batches))
            if snapshot != last:
                interval, last = poll_interval, snapshot
                if reporter:
                    reporter.update(job)
                if on_update is not None:
                    on_update(job)
            else:
                interval = min(interval * 2, max_poll_interval)
            if job.status != "in_progress" and not (
                job.status == "incomplete" and not state.cancelled and _can_progress(state)
            ):
                return job
            now = clock()
            if deadline is not None and now >= deadline:
                counts = job.request_counts
                raise TimeoutError(
                    f"job {state.job_id} is still {job.status} ({counts.done:,}/{counts.total:,} "
                    f"requests settled) after {timeout:g} s"
                )
            pause = interval if deadline is None else max(0.0, min(interval, deadline - now))
            yield _Op("sleep", (pause,))
    finally:
        if reporter:
            reporter.close()


def _can_progress(state: _State) -> bool:
    """Whether waiting can still move an incomplete job on (a token hold), versus needing resume()."""
    for part in range(1, state.parts + 1):
        chain = state.chain(part)
        round_ = _round_of(chain[-1]) + 1 if chain else 0
        if state.voids(part, round_):
            return True
    return time.monotonic() < state.token_hold_until


# --------------------------------------------------------------------------------------------- Job


class _JobBase(RichDisplay):
    """What Job and AsyncJob share: the state and everything read from it without I/O."""

    def __init__(self, client: Any, state: _State) -> None:
        self._client, self._state = client, state

    @property
    def id(self) -> str:
        return self._state.job_id

    @property
    def status(self) -> str:
        """``in_progress``, ``incomplete`` (parts or retries not submitted: call ``resume()``), ``cancelled``
        or ``completed`` (every request has its final outcome), as of the last refresh."""
        return self._state.status()

    @property
    def is_terminal(self) -> bool:
        return self.status in ("completed", "cancelled")

    @property
    def request_counts(self) -> RequestCounts:
        """Over every request of the job: ``done`` have their final outcome, ``failed`` of them failed."""
        return self._state.counts()

    @property
    def batches(self) -> list[Batch]:
        """Every batch of the job, by part and round (a batch refused for the token limit included)."""
        return sorted(self._state.batches.values(), key=lambda b: (_part_of(b)[0], _round_of(b), b.created_at))

    @property
    def parts(self) -> int:
        return self._state.parts

    @property
    def round(self) -> int:
        """The highest retry round submitted so far (0: no retries)."""
        return max((_round_of(b) for b in self._state.batches.values()), default=0)

    @property
    def description(self) -> Optional[str]:
        return self._state.metadata.get(DESCRIPTION_KEY)

    @property
    def spec(self) -> JobSpec:
        return self._state.spec

    def _cost_of(
        self, results_usage: Mapping[str, tuple[int, int, int]], pricing: Optional["Pricing"]
    ) -> tuple[Optional[float], str]:
        from .pricing import get_pricing

        pricing = pricing or get_pricing()
        total, sources = 0.0, set()
        for batch in self.batches:
            if _is_void(batch):
                continue
            usage = (
                None
                if batch.usage is None
                else (batch.usage.input_tokens, batch.usage.output_tokens, batch.usage.cached_tokens)
            )
            value, source = pricing.cost(
                batch.model,
                usage=usage,
                result_usage=results_usage.get(batch.id),
                completed_requests=batch.request_counts.completed,
            )
            if value is None:
                return None, "unknown"
            total += value
            sources.add(source)
        for weakest in ("estimate", "results", "usage"):
            if weakest in sources:
                return total, weakest
        return total, "usage"

    def __repr__(self) -> str:
        counts = self.request_counts
        name = f" {self.description!r}" if self.description else ""
        return (
            f"<{type(self).__name__} {self.id}{name}: {self.status}, {self.parts} part(s), round {self.round}, "
            f"{counts.done:,}/{counts.total:,} settled, {counts.failed:,} failed>"
        )

    def _display_fields(self) -> Fields:
        counts = self.request_counts
        share = f" ({100 * counts.done / counts.total:.0f}%)" if counts.total else ""
        spec = self.spec
        fields = [
            ("Status", self.status),
            ("Requests", f"{counts.done:,} / {counts.total:,} settled{share}, {counts.failed:,} failed"),
            ("Parts", f"{self.parts}, retry round {self.round}"),
            ("Retries", f"up to {spec.max_attempts} attempts on {', '.join(spec.retry_on) or 'nothing'}"),
            ("Token limit", f"{spec.max_enqueued_tokens:,} enqueued" if spec.max_enqueued_tokens else ""),
        ]
        for batch in self.batches:
            part, round_ = _part_of(batch)[0], _round_of(batch)
            label = f"Part {part}/{self.parts}" + (f" retry {round_}" if round_ else "")
            why = " (refused: token limit)" if _is_void(batch) else ""
            c = batch.request_counts
            fields.append((label, f"{batch.id}  {batch.status}{why}  {c.done:,}/{c.total:,}, {c.failed:,} failed"))
        title = f"Job {self.description!r} ({self.id})" if self.description else f"Job {self.id}"
        return title, fields


class Job(_JobBase):
    """A run of any size as one object, on a :class:`~batch_widgets.client.BatchClient`."""

    def refresh(self) -> "Job":
        """Fetch the job's unfinished batches and look at new failures, so ``status`` is current."""
        _run_sync(self._client, _refresh_gen(self._state))
        _run_sync(self._client, _settle_gen(self._state))
        return self

    def wait(
        self,
        *,
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        timeout: Optional[float] = None,
        on_update: Optional[Callable[["Job"], Any]] = None,
        progress: bool = True,
    ) -> "Job":
        """Drive the job to its end: submit held-back parts and retries as they become due, and show one
        progress bar over every request. ``on_update(job)`` is called on each change; ``timeout`` (seconds)
        raises TimeoutError (the job goes on; call ``wait`` again). Returns the job."""
        return _run_sync(
            self._client,
            _wait_gen(
                self,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                timeout=timeout,
                on_update=on_update,
                progress=progress,
            ),
        )

    def resume(self) -> "Job":
        """Submit what is missing (parts never created, retries due, parts of a cancelled job); a part or round
        that already has a batch is never submitted again. Then ``wait()`` as usual."""
        self._state.cancelled, self._state.driven = False, True
        _run_sync(self._client, _refresh_gen(self._state))
        _run_sync(self._client, _advance_gen(self._state, include_cancelled=True))
        return self

    def cancel(self) -> "Job":
        """Cancel every batch of the job still running; nothing more is submitted until ``resume()``."""
        _run_sync(self._client, _cancel_gen(self._state))
        return self

    def results(self) -> "JobResults":
        """Every part's outcome merged: one row per original request (see :class:`JobResults`)."""
        return _run_sync(self._client, _job_results_gen(self._state))

    def cost(self, pricing: Optional["Pricing"] = None) -> tuple[Optional[float], str]:
        """``(USD, source)`` summed over every part and round, each batch by the usual rules (its ``usage``,
        else its results' tokens); the source is the weakest one used."""
        usage = _run_sync(self._client, _result_usage_gen(self._state, self.batches))
        return self._cost_of(usage, pricing)


class AsyncJob(_JobBase):
    """The async twin of :class:`Job`, on an ``AsyncBatchClient``: the same methods, awaited."""

    async def refresh(self) -> "AsyncJob":
        await _run_async(self._client, _refresh_gen(self._state))
        await _run_async(self._client, _settle_gen(self._state))
        return self

    async def wait(
        self,
        *,
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        timeout: Optional[float] = None,
        on_update: Optional[Callable[["AsyncJob"], Any]] = None,
        progress: bool = True,
    ) -> "AsyncJob":
        return await _run_async(
            self._client,
            _wait_gen(
                self,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                timeout=timeout,
                on_update=on_update,
                progress=progress,
            ),
        )

    async def resume(self) -> "AsyncJob":
        self._state.cancelled, self._state.driven = False, True
        await _run_async(self._client, _refresh_gen(self._state))
        await _run_async(self._client, _advance_gen(self._state, include_cancelled=True))
        return self

    async def cancel(self) -> "AsyncJob":
        await _run_async(self._client, _cancel_gen(self._state))
        return self

    async def results(self) -> "JobResults":
        return await _run_async(self._client, _job_results_gen(self._state))

    async def cost(self, pricing: Optional["Pricing"] = None) -> tuple[Optional[float], str]:
        usage = await _run_async(self._client, _result_usage_gen(self._state, self.batches))
        return self._cost_of(usage, pricing)


def _result_usage_gen(state: _State, batches: list[Batch]) -> _Gen:
    usage = {}
    for batch in batches:
        if batch.usage is None and not _is_void(batch) and (batch.output_file_id or batch.error_file_id):
            results = yield from _results_gen(state, batch, include_inputs=False)
            usage[batch.id] = results.usage()
    return usage


# --------------------------------------------------------------------------------------------- results


def _job_results_gen(state: _State) -> _Gen:
    chains = []
    for part in range(1, state.parts + 1):
        chain = []
        for batch in state.chain(part):
            chain.append((yield from _results_gen(state, batch)))
        chains.append(chain)
    return JobResults(chains, job_id=state.job_id, files=state)


class JobResults:
    """The merged outcome of a job: per part, the results of each round (round 0 first)."""

    def __init__(self, chains: list[list["BatchResults"]], *, job_id: Optional[str] = None, files: Any = None) -> None:
        self.chains, self.job_id = chains, job_id
        # The job's downloaded files live as long as their owner: keep it while these results are in use
        # (``client.job(id).results()`` drops the Job at once).
        self._files = files

    def to_dataframe(self) -> "pd.DataFrame":
        """One row per original request, in input order: its final attempt's outcome (the usual result columns
        and ``input``/``body``), ``attempts`` (how many batches ran it) and the ``batch_id`` that produced it."""
        import numpy as np
        import pandas as pd

        frames = []
        for chain in self.chains:
            if not chain:
                continue
            rounds = []
            for attempt, results in enumerate(chain, start=1):
                frame = _with_batch_errors(results.to_dataframe(), results.batch)
                frame["attempts"] = attempt
                batch_id = results.batch.id if results.batch is not None else None  # None: results read from files
                frame["batch_id"] = pd.array([batch_id] * len(frame), dtype=pd.StringDtype("pyarrow"))
                rounds.append(frame)
            if len(rounds) == 1:
                frames.append(rounds[0])
                continue
            # Row i of the part comes from the last round that ran its request: one take over all rounds' rows
            # (rows of a retry whose id is not in the part, which should not happen, are kept at the end).
            order = pd.Index(rounds[0]["custom_id"])
            pick = np.arange(len(order))
            extra, offset = [], len(order)
            for frame in rounds[1:]:
                position = order.get_indexer(frame["custom_id"])
                known = position >= 0
                pick[position[known]] = offset + np.flatnonzero(known)
                extra.append(offset + np.flatnonzero(~known))
                offset += len(frame)
            both = pd.concat(rounds, ignore_index=True)
            frames.append(both.take(np.concatenate([pick, *extra])))
        if not frames:
            from .results import RESULT_COLUMNS

            return pd.DataFrame(columns=[*RESULT_COLUMNS, "input", "body", "attempts", "batch_id"])
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
        out["attempts"] = out["attempts"].astype("int64")
        return out

    def close(self) -> None:
        for chain in self.chains:
            for results in chain:
                results.close()

    def __repr__(self) -> str:
        return f"<JobResults {self.job_id}: {sum(len(c) for c in self.chains)} batch(es)>"


def _with_batch_errors(frame: "pd.DataFrame", batch: Optional[Batch]) -> "pd.DataFrame":
    """Rows of a batch that failed as a whole say why (its first batch-level error)."""
    if batch is None or batch.status != BatchStatus.FAILED or batch.errors is None or not batch.errors.data:
        return frame
    first = batch.errors.data[0]
    missing = frame["error_code"].isna()
    frame.loc[missing, "error_code"] = first.code
    frame.loc[missing, "error_message"] = first.message
    return frame


# --------------------------------------------------------------------------------------------- entry points


def _prepare(
    requests: Requests,
    *,
    endpoint: Optional[str],
    description: Optional[str],
    tags: Optional[Sequence[str]],
    metadata: Optional[Mapping[str, Any]],
    completion_window: str,
    max_attempts: int,
    retry_on: Iterable[Union[int, str]],
    max_enqueued_tokens: Optional[int],
    max_part_requests: Optional[int],
    build_options: Mapping[str, Any],
    endpoints: Optional[Sequence[str]] = None,
) -> tuple[_State, list[bytes], list[int], list[tuple[int, int]]]:
    """Everything checked before anything is uploaded: the lines, the metadata, the split."""
    from .jsonl import DEFAULT_ENDPOINT
    from .validation import MAX_FILE_BYTES, MAX_REQUESTS

    if not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
    if max_enqueued_tokens is not None and (not isinstance(max_enqueued_tokens, int) or max_enqueued_tokens < 1):
        raise ValueError(f"max_enqueued_tokens must be a positive integer, got {max_enqueued_tokens!r}")
    if max_part_requests is not None and not 1 <= max_part_requests <= MAX_REQUESTS:
        raise ValueError(f"max_part_requests must be between 1 and {MAX_REQUESTS:,}, got {max_part_requests!r}")
    codes = _retry_codes(retry_on)
    if build_options:  # rows or prompts with build_requests' options (model=, prompt_column=, ...)
        from .jsonl import build_requests

        requests = build_requests(requests, endpoint=endpoint or DEFAULT_ENDPOINT, **build_options)
    lines, source = request_lines(requests, endpoint)
    if not lines:
        raise InvalidRequestsError([LineProblem(None, "empty_file", "the input holds no requests")], source)
    endpoint = endpoint or endpoint_of(lines[0]) or DEFAULT_ENDPOINT
    endpoint = _validate_all(lines, endpoint, source, endpoints) or endpoint
    # Estimated only under a limit (it parses every line again); without one nothing needs the figure.
    tokens = [estimate_tokens(line) for line in lines] if max_enqueued_tokens is not None else [0] * len(lines)
    if max_enqueued_tokens is not None:
        big = [i for i, t in enumerate(tokens) if t > max_enqueued_tokens]
        if big:
            raise InvalidRequestsError(
                [
                    LineProblem(
                        i + 1,
                        TOKEN_LIMIT_CODE,
                        f"~{tokens[i]:,} tokens alone exceed max_enqueued_tokens={max_enqueued_tokens:,}",
                    )
                    for i in big
                ],
                source,
            )
    ranges = split_parts(
        lines,
        tokens,
        max_requests=max_part_requests or MAX_REQUESTS,
        max_bytes=MAX_FILE_BYTES,
        max_tokens=max_enqueued_tokens,
    )
    user = build_metadata(metadata, description=description, tags=tags)
    for key in JOB_KEYS:
        user.pop(key, None)
    spec = JobSpec(
        requests=len(lines), max_attempts=max_attempts, retry_on=codes, max_enqueued_tokens=max_enqueued_tokens
    )
    state = _State(
        new_job_id(), spec, len(ranges), endpoint=endpoint, completion_window=completion_window, metadata=user
    )
    state.batch_metadata(len(ranges), max_attempts - 1, sum(tokens), "batch_" + "x" * 40)  # fits the limits
    return state, lines, tokens, ranges


def job_id_of(batch: Batch) -> Optional[str]:
    """The id of the job this batch belongs to (None for a batch of its own)."""
    meta = _meta(batch)
    return meta.get(JOB_ID_KEY) if meta.get(JOB_SPEC_KEY) else None


def job_position(batch: Batch) -> tuple[int, int, int]:
    """``(part, parts, round)`` of a job's batch (from its metadata)."""
    part, parts = _part_of(batch)
    return part, parts, _round_of(batch)


def job_view(job_id: str, batches: list[Batch]) -> _State:
    """The state of a job from its batches as listed (for live views: no requests are made)."""
    return _state_from(job_id, batches)


def _jobs_from(batches: Iterable[Batch]) -> list[_State]:
    groups: dict[str, list[Batch]] = {}
    for batch in batches:
        job_id = _meta(batch).get(JOB_ID_KEY)
        if job_id and _meta(batch).get(JOB_SPEC_KEY):
            groups.setdefault(job_id, []).append(batch)
    return [_state_from(job_id, found) for job_id, found in groups.items()]


class _SyncClientParts(Protocol):
    """What JobsMixin reads from the client it is mixed into (BatchClient)."""

    @property
    def accepted_endpoints(self) -> Optional[tuple[str, ...]]: ...
    def iter_batches(self) -> Iterator[Batch]: ...


class _AsyncClientParts(Protocol):
    """What AsyncJobsMixin reads from the client it is mixed into (AsyncBatchClient)."""

    @property
    def accepted_endpoints(self) -> Optional[tuple[str, ...]]: ...
    def iter_batches(self) -> AsyncIterator[Batch]: ...


class JobsMixin:
    """``submit_job`` / ``job`` / ``jobs`` on the synchronous client."""

    def submit_job(
        self: _SyncClientParts,
        requests: Requests,
        *,
        endpoint: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        max_attempts: int = 3,
        retry_on: Iterable[Union[int, str]] = DEFAULT_RETRY_ON,
        max_enqueued_tokens: Optional[int] = None,
        max_part_requests: Optional[int] = None,
        **build_options: Any,
    ) -> Job:
        """Validate the whole input, split it into parts (at most 50,000 requests / 200 MB each, or
        ``max_part_requests``), upload every part, and create the parts that may start now.

        Takes the same requests and options as ``submit``. Requests whose failure is in ``retry_on`` (HTTP
        statuses like 429, classes like ``"5xx"``, line error codes like ``"batch_expired"``, and
        ``"not_executed"``) are retried by ``wait()`` until they ran ``max_attempts`` times; 400, 401, 403, 404
        and 422 are not retried by default (a bad request does not get better). With ``max_enqueued_tokens``,
        parts are held back so the job's estimated input tokens in flight (:func:`estimate_tokens`) stay under
        it, and parts are split so that each fits. Other keyword arguments (``model=``, ``prompt_column=``,
        ...) go to :func:`~batch_widgets.jsonl.build_requests` to build the lines from rows or prompts.
        """
        state, lines, tokens, ranges = _prepare(
            requests,
            endpoint=endpoint,
            description=description,
            tags=tags,
            metadata=metadata,
            completion_window=completion_window,
            max_attempts=max_attempts,
            retry_on=retry_on,
            max_enqueued_tokens=max_enqueued_tokens,
            max_part_requests=max_part_requests,
            build_options=build_options,
            endpoints=self.accepted_endpoints,
        )
        _run_sync(self, _create_gen(state, lines, tokens, ranges))
        return Job(self, state)

    def job(self, job_id: str) -> Job:
        """Rebuild a job from the provider's batches and files alone (e.g. after a kernel restart)."""
        state = _run_sync(self, _load_gen(job_id))
        job = Job(self, state)
        return job.refresh()

    def jobs(self: _SyncClientParts) -> list[Job]:
        """Every job found in the batch list, newest first (their statuses as listed: call ``refresh()``)."""
        states = _jobs_from(self.iter_batches())
        return [Job(self, s) for s in states]


class AsyncJobsMixin:
    """``submit_job`` / ``job`` / ``jobs`` on the async client (awaitable, returning :class:`AsyncJob`)."""

    async def submit_job(
        self: _AsyncClientParts,
        requests: Requests,
        *,
        endpoint: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        completion_window: str = DEFAULT_COMPLETION_WINDOW,
        max_attempts: int = 3,
        retry_on: Iterable[Union[int, str]] = DEFAULT_RETRY_ON,
        max_enqueued_tokens: Optional[int] = None,
        max_part_requests: Optional[int] = None,
        **build_options: Any,
    ) -> AsyncJob:
        state, lines, tokens, ranges = _prepare(
            requests,
            endpoint=endpoint,
            description=description,
            tags=tags,
            metadata=metadata,
            completion_window=completion_window,
            max_attempts=max_attempts,
            retry_on=retry_on,
            max_enqueued_tokens=max_enqueued_tokens,
            max_part_requests=max_part_requests,
            build_options=build_options,
            endpoints=self.accepted_endpoints,
        )
        await _run_async(self, _create_gen(state, lines, tokens, ranges))
        return AsyncJob(self, state)

    async def job(self, job_id: str) -> AsyncJob:
        state = await _run_async(self, _load_gen(job_id))
        return await AsyncJob(self, state).refresh()

    async def jobs(self: _AsyncClientParts) -> list[AsyncJob]:
        batches = [b async for b in self.iter_batches()]
        return [AsyncJob(self, s) for s in _jobs_from(batches)]
