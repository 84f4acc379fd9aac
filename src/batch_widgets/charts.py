"""Altair chart builders over the history frame (``analytics.batches_frame``); each returns an ``alt.Chart``.

Data is aggregated in pandas first, so charts stay small whatever the number of batches (Altair refuses
more than 5,000 rows by default).

The charts display with no network and no setup: they are ``alt.Chart`` / ``alt.LayerChart`` subclasses whose
rich display is an inline SVG drawn in the kernel by vl-convert (Altair's own ``svg`` mime bundle), so JupyterLab,
Notebook 7, Voila, VS Code and an exported HTML file all show the same picture, and Altair's global renderer is
never touched. A renderer the user enabled on purpose (``alt.renderers.enable("jupyter")``, ``"html"``, ...)
wins. Everything else is plain Altair: ``.properties()``, ``.save("c.png")``, ``.to_dict()``, composition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import numpy as np
import pandas as pd
import vl_convert  # noqa: F401  (the display below needs it: fail here, with the extra's name, not at display)

from . import facts
from .models import BatchStatus

__all__ = [
    "cost_chart",
    "processing_time_chart",
    "status_chart",
    "success_failure_chart",
    "throughput_chart",
    "StaticChart",
    "StaticLayerChart",
]


if TYPE_CHECKING:  # _InlineSVG is always combined with an Altair chart: type-check it as one
    _AltairChart = alt.TopLevelMixin
else:
    _AltairChart = object


class _InlineSVG(_AltairChart):
    """Display as an inline SVG (vl-convert) unless the user chose an Altair renderer other than the default."""

    def _repr_mimebundle_(self, *args: Any, **kwargs: Any) -> Any:
        if alt.renderers.active != "default":
            return super()._repr_mimebundle_(*args, **kwargs)
        from altair.utils.mimebundle import spec_to_mimebundle

        try:
            spec = self.to_dict(context={"pre_transform": False})
        except Exception:  # what Altair does: show the error, not an empty output
            return super()._repr_mimebundle_(*args, **kwargs)
        bundle = spec_to_mimebundle(
            spec, format="svg", mode="vega-lite", vegalite_version=alt.VEGALITE_VERSION, engine="vl-convert"
        )
        title = spec.get("title")
        text = title.get("text") if isinstance(title, dict) else title
        return {**bundle, "text/plain": f"<Altair chart{': ' + str(text) if text else ''}>"}


class StaticChart(_InlineSVG, alt.Chart):
    """An ``alt.Chart`` that displays as an inline SVG (see the module docstring)."""


class StaticLayerChart(_InlineSVG, alt.LayerChart):
    """An ``alt.LayerChart`` that displays as an inline SVG (see the module docstring)."""


#: One colour per status, in facts.STATUSES (lifecycle) order.
STATUS_COLORS = dict(
    zip(
        facts.STATUSES,
        ("#8c8c8c", "#1f77b4", "#17becf", "#2ca02c", "#d62728", "#ff7f0e", "#bcbd22", "#9467bd"),
        strict=True,
    )
)
_OUTCOME_COLORS = alt.Scale(domain=["succeeded", "failed"], range=["#2ca02c", "#d62728"])
MAX_POINTS = 5_000  # per-batch charts show the newest this many batches


def _day(frame: pd.DataFrame) -> pd.Series:
    return frame["created_at"].dt.floor("D").dt.tz_localize(None)  # a UTC calendar day


def success_failure_chart(frame: pd.DataFrame, *, width: int = 480, height: int = 220) -> alt.Chart:
    """Requests that succeeded and failed per day (stacked bars)."""
    daily = (
        frame.assign(day=_day(frame))
        .groupby("day", as_index=False)[["completed_requests", "failed_requests"]]
        .sum()
        .rename(columns={"completed_requests": "succeeded", "failed_requests": "failed"})
        .melt(id_vars="day", var_name="outcome", value_name="requests")
    )
    return (
        StaticChart(daily, title="Requests: success vs failure")
        .mark_bar()
        .encode(
            x=alt.X("day:T", title="Day (UTC)"),
            y=alt.Y("requests:Q", title="Requests", stack="zero"),
            color=alt.Color("outcome:N", scale=_OUTCOME_COLORS, title=None),
            tooltip=[alt.Tooltip("day:T", title="Day"), "outcome:N", alt.Tooltip("requests:Q", format=",")],
        )
        .properties(width=width, height=height)
    )


def status_chart(frame: pd.DataFrame, *, width: int = 480, height: int = 220) -> alt.Chart:
    """Number of batches per status."""
    counts = frame["status"].astype(str).value_counts()
    data = pd.DataFrame(
        {"status": [s.value for s in BatchStatus], "batches": [int(counts.get(s.value, 0)) for s in BatchStatus]}
    )
    data = data[data["batches"] > 0]
    return (
        StaticChart(data, title="Batches by status")
        .mark_bar()
        .encode(
            x=alt.X("batches:Q", title="Batches"),
            y=alt.Y("status:N", sort="-x", title=None),
            color=alt.Color(
                "status:N", legend=None, scale=alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values()))
            ),
            tooltip=["status:N", alt.Tooltip("batches:Q", format=",")],
        )
        .properties(width=width, height=height)
    )


def processing_time_chart(frame: pd.DataFrame, *, width: int = 480, height: int = 220) -> alt.LayerChart:
    """Minutes from creation to the end state, per finished batch over time, with the average as a rule."""
    done = frame[frame["total_seconds"].notna()].nlargest(MAX_POINTS, "created_at")
    data = pd.DataFrame(
        {
            "created_at": done["created_at"].dt.tz_localize(None),
            "id": done["id"].astype(str),
            "status": done["status"].astype(str),
            "minutes": done["total_seconds"] / 60.0,
        }
    )
    base = alt.Chart(data)
    points = base.mark_circle(size=40, opacity=0.7).encode(
        x=alt.X("created_at:T", title="Created (UTC)"),
        y=alt.Y("minutes:Q", title="Minutes (created to end)"),
        color=alt.Color("status:N", scale=alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values()))),
        tooltip=["id:N", "status:N", alt.Tooltip("minutes:Q", format=".1f"), alt.Tooltip("created_at:T")],
    )
    average = base.mark_rule(strokeDash=[6, 4], color="#555").encode(
        y="mean(minutes):Q", tooltip=[alt.Tooltip("mean(minutes):Q", title="Average minutes", format=".1f")]
    )
    return StaticLayerChart(layer=[points, average], title="Processing time per batch").properties(
        width=width, height=height
    )


def cost_chart(frame: pd.DataFrame, *, by: str = "day", width: int = 480, height: int = 220) -> alt.Chart:
    """Cost per day (``by="day"``) or per model (``by="model"``), coloured by where the figure comes from
    (usage, results, estimate). Batches whose cost is unknown are left out (their count is in the title)."""
    known = frame[frame["cost"].notna()]
    unknown = len(frame) - len(known)
    suffix = f" ({unknown} batch{'es' if unknown != 1 else ''} of unknown cost left out)" if unknown else ""
    source = known["cost_source"].astype(str)
    if by == "day":
        data = (
            pd.DataFrame({"key": _day(known), "source": source, "cost": known["cost"]})
            .groupby(["key", "source"], as_index=False)["cost"]
            .sum()
        )
        x = alt.X("key:T", title="Day (UTC)")
    elif by == "model":
        data = (
            pd.DataFrame(
                {
                    "key": known["model"].astype(object).fillna("(no model)").astype(str),
                    "source": source,
                    "cost": known["cost"],
                }
            )
            .groupby(["key", "source"], as_index=False)["cost"]
            .sum()
        )
        x = alt.X("key:N", title="Model", sort="-y")
    else:
        raise ValueError(f"by must be 'day' or 'model', not {by!r}")
    return (
        StaticChart(data, title=f"Cost (USD) by {by}{suffix}")
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("cost:Q", title="USD", stack="zero"),
            color=alt.Color(
                "source:N",
                title="Cost from",
                scale=alt.Scale(domain=["usage", "results", "estimate"], range=["#1f77b4", "#17becf", "#c7c7c7"]),
            ),
            tooltip=[alt.Tooltip("key", title=by), "source:N", alt.Tooltip("cost:Q", format="$,.4f")],
        )
        .properties(width=width, height=height)
    )


def throughput_chart(frame: pd.DataFrame, *, width: int = 480, height: int = 220) -> alt.Chart:
    """Requests finished per second of processing, per day (finished batches only)."""
    done = frame[(frame["total_seconds"] > 0).fillna(False)]
    data = (
        pd.DataFrame(
            {
                "day": _day(done),
                "requests": done["completed_requests"] + done["failed_requests"],
                "seconds": done["total_seconds"],
            }
        )
        .groupby("day", as_index=False)[["requests", "seconds"]]
        .sum()
    )
    data["rps"] = np.where(data["seconds"] > 0, data["requests"] / data["seconds"].where(data["seconds"] > 0, 1), 0.0)
    return (
        StaticChart(data, title="Throughput")
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title="Day (UTC)"),
            y=alt.Y("rps:Q", title="Requests per second"),
            tooltip=[
                alt.Tooltip("day:T"),
                alt.Tooltip("rps:Q", format=".2f", title="req/s"),
                alt.Tooltip("requests:Q", format=","),
            ],
        )
        .properties(width=width, height=height)
    )
