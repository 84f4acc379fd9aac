"""Property-based tests of the models: whatever JSON a provider sends, parsing either succeeds or raises
pydantic.ValidationError -- never another exception -- and known deviations normalise to one vocabulary."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_widgets.facts import BATCH_TIMESTAMP_FIELDS
from batch_widgets.models import (
    Batch,
    BatchOutputLine,
    BatchPage,
    BatchStatus,
    FileObject,
    FilePage,
    RequestCounts,
    to_unix_seconds,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Everything json.loads can produce (it accepts NaN/Infinity and integers of any size), plus the edge cases
# random search is slow to reach.
EDGES = [
    float("inf"),
    float("-inf"),
    float("nan"),
    10**400,
    -(10**400),
    1e308,
    "1e400",
    "-Infinity",
    "NaN",
    "",
    " ",
    "0",
    "-1",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+14:00",
    "2024-02-30T00:00:00Z",
    "1700000000000",
    "1.7e12",
    "true",
    "\x00",
    "\u202e",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(EDGES),
)
finite_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)

#: Other platforms' status words the model accepts, each normalised to one of ours.
ALIASES = [
    "running",
    "progress",
    "succeeded",
    "success",
    "canceled",
    "canceling",
    "queued",
    "pending",
    "cancellation_requested",
    "timeout_exceeded",
]
STATUS_WORDS = [s.value for s in BatchStatus] + ALIASES + ["in-progress", "In Progress", "inprogress"]
status_spellings = st.sampled_from(STATUS_WORDS).flatmap(
    lambda w: st.sampled_from([w, w.upper(), w.title(), f"  {w} ", w.swapcase()])
)
TIMESTAMP_KEYS = list(BATCH_TIMESTAMP_FIELDS)  # created_at first
# Realistic moments (2001..2096): seconds and milliseconds are then unambiguous.
seconds = st.integers(min_value=1_000_000_001, max_value=4_000_000_000)


@st.composite
def timestamp_forms(draw, t):
    """(spelling, expected seconds) for one moment ``t``: int, float, numeric string, ms, ISO with any offset."""
    form = draw(st.sampled_from(["int", "float", "str", "ms", "ms_float", "iso_z", "iso_offset", "iso_naive"]))
    if form == "int":
        return t
    if form == "float":
        return t + draw(st.floats(min_value=0, max_value=0.999))
    if form == "str":
        return str(t)
    if form == "ms":
        return t * 1000 + draw(st.integers(0, 999))
    if form == "ms_float":
        return t * 1000.0
    moment = datetime.fromtimestamp(t, tz=timezone.utc)
    if form == "iso_z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "iso_naive":
        return moment.replace(tzinfo=None).isoformat()
    offset = timezone(timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60))))
    return moment.astimezone(offset).isoformat()


@st.composite
def provider_batches(draw):
    """A batch as some provider might send it: the spec's shape with deviations and random extra fields."""
    data = {
        "id": draw(st.text(min_size=1, max_size=20)),
        "object": "batch",
        "endpoint": draw(st.sampled_from(["/v1/chat/completions", "/chat/completions", "", None])),
        "status": draw(status_spellings),
        "created_at": draw(seconds),
        "request_counts": draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {},
                    optional={
                        k: st.one_of(st.none(), st.integers(0, 10**6))
                        for k in ("total", "completed", "failed", "succeeded")
                    },
                ),
            )
        ),
        "metadata": draw(
            st.one_of(
                st.none(), st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.text(max_size=8)), max_size=3)
            )
        ),
        "output_file_id": draw(st.sampled_from(["", None, "file-out"])),
        "error_file_id": draw(st.sampled_from(["", None, "file-err"])),
    }
    key = draw(st.sampled_from(["input_file_id", "input_file"]))
    data[key] = "file-abc"
    for ts in draw(st.lists(st.sampled_from(TIMESTAMP_KEYS[1:]), max_size=3, unique=True)):
        data[ts] = draw(st.one_of(st.none(), st.just(""), seconds))
    if draw(st.booleans()):
        data["errors"] = draw(
            st.one_of(
                st.lists(st.fixed_dictionaries({"code": st.text(max_size=5), "line": st.none() | st.integers(1, 9)})),
                st.none(),
            )
        )
    # Extra provider fields must survive a dump/parse round trip, so they are finite here.
    extras = st.recursive(
        finite_scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    )
    data.update(draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in data), extras, max_size=3)))
    if draw(st.booleans()):  # Together wraps create responses
        data = {"job": data, "warning": "x"}
    return data


def _parse_or_validation_error(model, data):
    try:
        return model.model_validate(data)
    except pydantic.ValidationError:
        return None


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "status",
                "created_at",
                "input_file_id",
                "input_file",
                "endpoint",
                "request_counts",
                "errors",
                "metadata",
                "usage",
                "job",
                *TIMESTAMP_KEYS,
            ]
        ),
        json_values,
        max_size=12,
    )
)
def test_arbitrary_batch_dicts_parse_or_raise_validation_error(data):
    _parse_or_validation_error(Batch, data)


@SETTINGS
@given(json_values)
def test_arbitrary_json_for_every_model_parses_or_raises_validation_error(value):
    for model in (Batch, BatchPage, FileObject, FilePage, RequestCounts, BatchOutputLine):
        _parse_or_validation_error(model, value)


@SETTINGS
@given(st.sampled_from(TIMESTAMP_KEYS), json_values)
def test_any_timestamp_value_parses_or_raises_validation_error(key, value):
    base = {"id": "b", "input_file_id": "f", "status": "completed", "created_at": 1_700_000_000}
    batch = _parse_or_validation_error(Batch, {**base, key: value})
    if batch is not None:
        assert getattr(batch, key) is None or isinstance(getattr(batch, key), int)


@SETTINGS
@given(provider_batches())
def test_provider_deviations_normalise(data):
    batch = Batch.model_validate(data)
    raw = data.get("job", data)
    assert isinstance(batch.status, BatchStatus)
    assert batch.input_file_id == "file-abc"
    assert batch.output_file_id in (None, "file-out") and batch.error_file_id in (None, "file-err")
    assert batch.endpoint != ""
    counts = batch.request_counts
    assert min(counts.total, counts.completed, counts.failed) >= 0
    if batch.metadata is not None:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in batch.metadata.items())
    assert batch.created_at == raw["created_at"]
    # What we produce parses back to the same thing (the server and the widgets exchange dumped batches).
    again = Batch.model_validate(json.loads(batch.model_dump_json()))
    assert again == batch


@SETTINGS
@given(status_spellings)
def test_status_any_case_or_synonym(spelling):
    parsed = BatchStatus.parse(spelling)
    key = spelling.strip().lower().replace("-", "_").replace(" ", "_")
    canonical = {
        "running": "in_progress",
        "progress": "in_progress",
        "inprogress": "in_progress",
        "succeeded": "completed",
        "success": "completed",
        "canceled": "cancelled",
        "canceling": "cancelling",
        "queued": "validating",
        "pending": "validating",
        "cancellation_requested": "cancelling",
        "timeout_exceeded": "expired",
    }.get(key, key)
    assert parsed.value == canonical
    assert parsed.is_terminal != parsed.is_active


@SETTINGS
@given(st.text(max_size=20))
def test_unknown_status_is_a_validation_error(word):
    base = {"id": "b", "input_file_id": "f", "created_at": 1}
    key = word.strip().lower().replace("-", "_").replace(" ", "_")
    known = {s.value for s in BatchStatus} | set(ALIASES) | {"inprogress"}
    if key in known:
        return
    with pytest.raises(pydantic.ValidationError):
        Batch.model_validate({**base, "status": word})


@SETTINGS
@given(seconds.flatmap(lambda t: st.tuples(st.just(t), timestamp_forms(t))))
def test_timestamps_int_float_iso_ms_agree(pair):
    t, spelling = pair
    assert to_unix_seconds(spelling) == t
    batch = Batch.model_validate(
        {"id": "b", "input_file_id": "f", "status": "completed", "created_at": spelling, "completed_at": spelling}
    )
    assert batch.created_at == batch.completed_at == t
    file = FileObject.model_validate({"id": "f", "created_at": spelling})
    assert file.created_at == t
