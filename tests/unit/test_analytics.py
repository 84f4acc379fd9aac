import math

import pandas as pd
import pytest

from batch_widgets.analytics import batches_frame, filter_frame, summary_stats, to_timestamp
from batch_widgets.models import Batch
from batch_widgets.pricing import Pricing

T0 = 1_764_400_000  # 2025-11-29 07:06:40 UTC


def batch(
    i,
    status="completed",
    *,
    created=T0,
    queue=60,
    run=600,
    finalize=30,
    total=100,
    failed=0,
    model="gpt-4o-mini",
    usage=None,
    metadata=None,
    **extra,
):
    data = {
        "id": f"batch_{i}",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": f"file-in{i}",
        "completion_window": "24h",
        "status": status,
        "created_at": created,
        "model": model,
        "request_counts": {"total": total, "completed": total - failed, "failed": failed},
        "metadata": metadata,
        "usage": usage,
        **extra,
    }
    if status != "validating" and status != "failed":
        data["in_progress_at"] = created + queue
    if status == "completed":
        data.update(
            finalizing_at=created + queue + run,
            completed_at=created + queue + run + finalize,
            output_file_id=f"file-out{i}",
        )
    if status == "failed":
        data["failed_at"] = created + queue
    if status == "cancelled":
        data.update(cancelling_at=created + queue + run, cancelled_at=created + queue + run + finalize)
    if status == "expired":
        data.update(expired_at=created + 86_400)
    return Batch.model_validate(data)


def test_durations_are_seconds_from_unix_second_timestamps():
    df = batches_frame([batch(1, queue=60, run=600, finalize=30)])
    row = df.iloc[0]
    assert (row.queue_seconds, row.run_seconds, row.finalize_seconds, row.total_seconds) == (60, 600, 30, 690)
    assert row.created_at == pd.Timestamp(T0, unit="s", tz="UTC")
    assert str(row.created_at.tz) == "UTC"
    assert row.ended_at - row.created_at == pd.Timedelta(seconds=690)  # not 690 ms, not 0.69 s


def test_cancelled_run_ends_at_cancelling_and_active_has_no_total():
    df = batches_frame([batch(1, "cancelled", queue=5, run=100, finalize=20), batch(2, "in_progress")])
    assert df.loc[0, "run_seconds"] == 100 and df.loc[0, "total_seconds"] == 125
    assert math.isnan(df.loc[1, "total_seconds"]) and df.loc[1, "queue_seconds"] == 60
    assert pd.isna(df.loc[1, "ended_at"])


def test_typed_columns():
    df = batches_frame([batch(1, metadata={"description": "d", "tags": "a, b"})])
    for name in ("created_at", "in_progress_at", "completed_at", "expires_at"):
        assert isinstance(df[name].dtype, pd.DatetimeTZDtype), name
    assert df.loc[0, "tags"] == ["a", "b"] and df.loc[0, "description"] == "d"
    assert df["total_requests"].dtype == "int64" and df["success_rate"].dtype == "float64"
    assert str(df["input_tokens"].dtype) == "Int64"
    assert df["id"].dtype.storage == "pyarrow"
    assert len(batches_frame([])) == 0 and list(batches_frame([]).columns) == list(df.columns)


def test_success_rate_and_cost_sources():
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000, "total_tokens": 2_000_000}
    df = batches_frame(
        [
            batch(1, total=10, failed=2, usage=usage),  # usage, priced model
            batch(2, total=10, failed=0, model="my-llama", usage=usage),  # usage, unknown model
            batch(3, total=10, failed=5, model=None),  # no usage: estimate
            batch(4, total=0, status="validating"),
            batch(5, model="gpt-4o"),  # results usage given below
        ],
        result_usage={"batch_5": (2_000_000, 0, 0), "batch_1": (1, 1, 1)},
    )
    assert df["success_rate"].tolist()[:3] == [0.8, 1.0, 0.5] and math.isnan(df.loc[3, "success_rate"])
    assert df["cost_source"].tolist() == ["usage", "unknown", "estimate", "estimate", "results"]
    assert df.loc[0, "cost"] == pytest.approx(0.375)  # gpt-4o-mini 1M in + 1M out at batch price
    assert math.isnan(df.loc[1, "cost"])  # unknown, never 0
    assert df.loc[2, "cost"] == pytest.approx(5 * 0.001)
    assert df.loc[4, "cost"] == pytest.approx(2.5) and df.loc[4, "input_tokens"] == 2_000_000
    assert df.loc[0, "input_tokens"] == 1_000_000  # the batch's own usage wins over results


def test_custom_pricing_changes_estimate():
    df = batches_frame([batch(1, total=100)], pricing=Pricing(per_request_estimate=0.01))
    assert df.loc[0, "cost"] == pytest.approx(1.0) and df.loc[0, "cost_source"] == "estimate"


def test_summary_stats_known_values():
    frame = batches_frame(
        [
            batch(1, total=100, failed=10, queue=60, run=600, finalize=30),  # 690 s
            batch(2, total=50, failed=0, queue=10, run=100, finalize=0),  # 110 s
            batch(3, "failed", total=0),  # 60 s (validation failed)
            batch(4, "in_progress", total=20, failed=0),
        ]
    )
    stats = summary_stats(frame)
    assert stats["batches"] == 4 and stats["active"] == 1
    assert stats["by_status"]["completed"] == 2 and stats["by_status"]["failed"] == 1
    assert stats["by_status"]["expired"] == 0
    assert stats["completed_requests"] == 90 + 50 + 20 and stats["failed_requests"] == 10
    assert stats["success_rate"] == pytest.approx(160 / 170) and stats["failure_rate"] == pytest.approx(10 / 170)
    assert stats["mean_processing_seconds"] == pytest.approx((690 + 110 + 60) / 3)
    assert stats["median_processing_seconds"] == 110
    assert stats["throughput_rps"] == pytest.approx(150 / 860)
    assert stats["total_cost"] == pytest.approx(160 * 0.001) and stats["cost_is_estimate"]
    assert stats["cost_per_request"] == pytest.approx(0.001)


def test_summary_stats_of_nothing():
    stats = summary_stats(batches_frame([]))
    assert stats["batches"] == 0 and stats["success_rate"] is None and stats["total_cost"] is None
    assert stats["mean_processing_seconds"] is None and stats["throughput_rps"] is None


def test_filters():
    frame = batches_frame(
        [
            batch(1, created=T0, metadata={"description": "Nightly eval", "tags": "eval,prod"}),
            batch(2, "failed", created=T0 + 86_400, model="gpt-4.1"),
            batch(3, "expired", created=T0 + 2 * 86_400, metadata={"tags": "adhoc"}),
        ]
    )
    ids = lambda f: f["id"].tolist()  # noqa: E731 - a one-line local helper
    assert ids(filter_frame(frame, status=["FAILED", "expired"])) == ["batch_2", "batch_3"]
    assert ids(filter_frame(frame, status="completed")) == ["batch_1"]
    assert ids(filter_frame(frame, search="NIGHTLY")) == ["batch_1"]
    assert ids(filter_frame(frame, search="adhoc")) == ["batch_3"]  # tags are searched
    assert ids(filter_frame(frame, search="batch_2")) == ["batch_2"]
    assert ids(filter_frame(frame, model="gpt-4.1")) == ["batch_2"]
    assert ids(filter_frame(frame, endpoint="/v1/embeddings")) == []
    assert ids(filter_frame(frame, since=T0 + 86_400)) == ["batch_2", "batch_3"]
    assert ids(filter_frame(frame, until="2025-11-30T07:06:40Z")) == ["batch_1"]
    assert ids(filter_frame(frame, since=pd.Timestamp(T0 + 1, unit="s").to_pydatetime(), status="failed")) == [
        "batch_2"
    ]


def test_to_timestamp_forms():
    expected = pd.Timestamp("2025-11-29T07:06:40", tz="UTC")
    assert to_timestamp(T0) == expected
    assert to_timestamp("2025-11-29 07:06:40") == expected  # naive means UTC
    assert to_timestamp("2025-11-29T08:06:40+01:00") == expected
    import datetime as dt

    assert to_timestamp(dt.date(2025, 11, 29)) == pd.Timestamp("2025-11-29", tz="UTC")


def test_an_all_zero_usage_reads_as_not_reported_while_active_and_as_zero_once_ended():
    from batch_widgets.pricing import batch_cost, get_pricing

    zero = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    running = batch(1, "in_progress", usage=zero, request_counts={"total": 10, "completed": 4, "failed": 1})
    ended = batch(2, "completed", usage=zero, total=10)
    assert batch_cost(running) == (4 * get_pricing().per_request_estimate, "estimate")  # the server wrote 0s
    assert batch_cost(ended) == (0.0, "usage")  # a finished batch that used no tokens cost nothing
    frame = batches_frame([running, ended])
    assert list(frame["cost_source"]) == ["estimate", "usage"]
    assert frame["input_tokens"].isna().tolist() == [True, False]


def test_the_library_bookkeeping_keys_stay_out_of_the_frame_and_the_csv():
    from batch_widgets import facts
    from batch_widgets.history import BatchHistory

    meta = {
        facts.REQUEST_TAG_KEY: "4cdaef8ef4ad42be",
        facts.JOB_SPEC_KEY: "requests=3",
        "owner": "ana",
        facts.DESCRIPTION_KEY: "=1+1",
    }
    history = BatchHistory.from_batches([batch(1, metadata=meta)])
    assert history.to_dataframe()["metadata"][0] == {"owner": "ana", facts.DESCRIPTION_KEY: "=1+1"}
    csv = history.to_csv()
    assert "4cdaef8ef4ad42be" not in csv and facts.REQUEST_TAG_KEY not in csv and facts.JOB_SPEC_KEY not in csv
    assert ",'=1+1," in csv  # a formula-like description is defused, as the panel's export does


def test_statistics_count_what_they_say():
    stats = summary_stats(
        batches_frame(
            [
                batch(1, "completed", total=100, failed=10, queue=10, run=80, finalize=10),  # 100 s
                batch(
                    2,
                    "cancelled",
                    queue=0,
                    run=20,
                    finalize=10,
                    request_counts={"total": 300, "completed": 23, "failed": 2},
                ),  # 30 s, 275 never ran
                batch(3, "in_progress", total=50),
            ]
        )
    )
    assert (stats["completed_requests"], stats["failed_requests"], stats["total_requests"]) == (163, 12, 450)
    assert stats["success_rate"] == 163 / 175  # of the done requests; the unrun ones are in neither
    assert stats["finished_batches"] == 2 and stats["mean_processing_seconds"] == 65.0
    assert stats["median_processing_seconds"] == 65.0 and stats["throughput_rps"] == 125 / 130
    assert stats["priced_batches"] == 3 and stats["cost_per_request"] == stats["total_cost"] / 163
