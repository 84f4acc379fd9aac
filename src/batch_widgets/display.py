"""Notebook display for our objects: one small table of labelled fields, as HTML, Markdown and plain text.

An object describes itself once (``_display_fields() -> (title, [(label, value), ...])``) and gets
``_repr_html_``, ``_repr_markdown_`` and a readable ``__str__`` from :class:`RichDisplay`. Every value is
escaped: API text (descriptions, tags, error messages) is never rendered as markup. Imports nothing of ours,
so models can use it.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Optional, Sequence

__all__ = ["Fields", "RichDisplay", "duration", "fields_html", "fields_markdown", "fields_text", "when"]

Fields = tuple[str, Sequence[tuple[str, str]]]


def when(seconds: Optional[int]) -> str:
    """Unix seconds as ``2026-11-30 04:41:59 UTC`` ("" for None)."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: Optional[float]) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 01 min`` ("" for None)."""
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fields_html(title: str, fields: Sequence[tuple[str, str]]) -> str:
    rows = "".join(
        f'<tr><th style="text-align:left;padding-right:1em;vertical-align:top">{html.escape(label)}</th>'
        f'<td style="text-align:left;white-space:pre-wrap">{html.escape(value)}</td></tr>'
        for label, value in fields
        if value
    )
    return f"<div><strong>{html.escape(title)}</strong><table>{rows}</table></div>"


def _md(text: str) -> str:
    # Markdown has no escape-everything; backslash the characters that would change a table cell.
    out = html.escape(text, quote=False).replace("\n", "<br>")
    for ch in "\\`*_[]|#":
        out = out.replace(ch, "\\" + ch)
    return out


def fields_markdown(title: str, fields: Sequence[tuple[str, str]]) -> str:
    lines = [f"**{_md(title)}**", "", "| | |", "|---|---|"]
    lines += [f"| {_md(label)} | {_md(value)} |" for label, value in fields if value]
    return "\n".join(lines)


def fields_text(title: str, fields: Sequence[tuple[str, str]]) -> str:
    shown = [(label, value) for label, value in fields if value]
    width = max((len(label) for label, _ in shown), default=0)
    return "\n".join([title, *(f"  {label.ljust(width)}  {value}" for label, value in shown)])


class RichDisplay:
    """Mixin: ``_repr_html_``, ``_repr_markdown_`` and ``__str__`` from ``_display_fields()``."""

    def _display_fields(self) -> Fields:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return fields_html(*self._display_fields())

    def _repr_markdown_(self) -> str:
        return fields_markdown(*self._display_fields())

    def __str__(self) -> str:
        return fields_text(*self._display_fields())
