"""The API facts: consistent with each other, with the models, and with the generated JS module; each key and
limit written once in src/ and js/."""

from __future__ import annotations

import pathlib
import re

from batch_widgets import facts, validation
from batch_widgets.models import Batch, BatchStatus

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_status_groups_split_the_statuses():
    assert tuple(s.value for s in BatchStatus) == facts.STATUSES
    assert set(facts.ACTIVE_STATUSES) | set(facts.TERMINAL_STATUSES) == set(facts.STATUSES)
    assert not set(facts.ACTIVE_STATUSES) & set(facts.TERMINAL_STATUSES)
    assert set(facts.CUT_SHORT_STATUSES) < set(facts.TERMINAL_STATUSES)
    assert {s.value for s in BatchStatus if s.is_active} == set(facts.ACTIVE_STATUSES)
    assert set(facts.ENDED_AT_FIELDS) == set(facts.TERMINAL_STATUSES)
    assert set(facts.ENDED_AT_FIELDS.values()) <= set(Batch.model_fields)
    assert set(facts.NOT_EXECUTED_CODES) <= set(facts.CUT_SHORT_STATUSES)


def test_ended_at_reads_the_field_of_the_terminal_status():
    for status in facts.STATUSES:
        times = {field: 1000 + i for i, field in enumerate(facts.ENDED_AT_FIELDS.values())}
        batch = Batch(id="b", input_file_id="f", status=status, created_at=1, **times)
        field = facts.ENDED_AT_FIELDS.get(status)
        assert batch.ended_at == (times[field] if field else None)


def test_library_keys_and_hidden_keys():
    assert set(facts.HIDDEN_KEYS) <= set(facts.LIBRARY_KEYS)
    assert set(facts.PER_BATCH_KEYS) <= set(facts.LIBRARY_KEYS)
    meta = {facts.REQUEST_TAG_KEY: "x", facts.DESCRIPTION_KEY: "d", "mine": "1"}
    assert facts.visible_metadata(meta) == {facts.DESCRIPTION_KEY: "d", "mine": "1"}
    assert facts.visible_metadata(None) == {}


def test_validator_reads_the_facts():
    assert validation.CODES is facts.VALIDATION_CODES
    assert (validation.MAX_REQUESTS, validation.MAX_FILE_BYTES) == (facts.MAX_REQUESTS, facts.MAX_FILE_BYTES)


def test_generated_js_module_is_current():
    """js/lib/facts.js is what `make js` generates from the Python module (make js-check checks it too)."""
    assert (ROOT / "js" / "lib" / "facts.js").read_text(encoding="utf-8") == facts.to_js()


def _hand_written_sources():
    for base in ("src", "js"):
        for path in sorted((ROOT / base).rglob("*")):
            if path.suffix not in (".py", ".js", ".mjs") or "static" in path.parts:
                continue
            if path.name in ("facts.py", "facts.js") or "test" in path.parts:
                continue
            yield path


def test_each_key_and_limit_is_written_once():
    """No metadata key of the library's bookkeeping, status group or limit is typed again outside the facts."""
    keys = [facts.REQUEST_TAG_KEY, facts.GROUP_ID_KEY, facts.GROUP_PART_KEY, facts.PARENT_KEY]
    patterns = [re.compile(rf"""["']{re.escape(k)}["']""") for k in keys]
    patterns.append(re.compile(r"\b50_?000\b"))
    patterns.append(re.compile(r"200 \* 1024 \* 1024"))
    active = ", ".join(f'"{s}"' for s in facts.ACTIVE_STATUSES)
    terminal = ", ".join(f'"{s}"' for s in facts.TERMINAL_STATUSES)
    patterns += [re.compile(re.escape(active)), re.compile(re.escape(terminal))]
    found = []
    for path in _hand_written_sources():
        text = path.read_text(encoding="utf-8")
        for pattern in patterns:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)}")
    assert found == []
