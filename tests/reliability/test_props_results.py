"""Property-based tests of the output/error file reader (results.py): whatever a provider writes into its
result files, reading them either gives a table or a ValueError naming the file and line -- never another
exception -- and the fast (pyarrow) and slow (line by line) readers agree."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

results = pytest.importorskip("batch_widgets.results")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
# Shapes close to a real output line, with every field liable to be of the wrong type.
bodies = st.fixed_dictionaries(
    {},
    optional={
        "choices": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "message": st.fixed_dictionaries({}, optional={"content": values}),
                        "text": values,
                        "finish_reason": values,
                    },
                ),
                max_size=2,
            ),
            values,
        ),
        "output": values,
        "usage": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    k: values
                    for k in (
                        "prompt_tokens",
                        "completion_tokens",
                        "input_tokens",
                        "output_tokens",
                        "prompt_tokens_details",
                    )
                },
            ),
            values,
        ),
        "data": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "embedding": st.one_of(
                            st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=4), values
                        )
                    },
                ),
                max_size=2,
            ),
            values,
        ),
        "model": values,
        "error": values,
        "status": values,
    },
)
lines = st.fixed_dictionaries(
    {},
    optional={
        "id": values,
        "custom_id": st.one_of(st.text(max_size=8), values),
        "response": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "status_code": st.one_of(st.sampled_from([200, 400, 500, 0]), values),
                    "request_id": values,
                    "body": st.one_of(bodies, values),
                },
            ),
            values,
        ),
        "error": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"code": values, "message": values}), values),
    },
)
files = st.lists(
    st.one_of(lines.map(json.dumps), values.map(json.dumps), st.just(""), st.text(max_size=20)), max_size=8
)


def _read(path, fast):
    try:
        return results.read_result_table(path, fast=fast), None
    except ValueError as exc:
        return None, exc


@SETTINGS
@given(files)
def test_any_result_file_reads_or_names_the_bad_line(tmp_path_factory, raw_lines):
    path = tmp_path_factory.mktemp("r") / "out.jsonl"
    path.write_text("\n".join(raw_lines) + "\n", encoding="utf-8")
    for fast in (True, False):
        table, error = _read(path, fast)
        if error is not None:
            assert re.search(r"line \d+", str(error)), str(error)
        else:
            non_blank = [line for line in raw_lines if line.strip()]
            assert table.num_rows == len(non_blank)


@SETTINGS
@given(st.lists(lines, min_size=1, max_size=8))
def test_fast_and_slow_readers_agree(tmp_path_factory, objs):
    path = tmp_path_factory.mktemp("r") / "out.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
    slow, slow_error = _read(path, False)
    fast, fast_error = _read(path, True)
    assert (slow_error is None) == (fast_error is None), (slow_error, fast_error)
    if slow is not None:
        for column in ("custom_id", "status", "ok", "status_code"):
            assert fast.column(column).to_pylist() == slow.column(column).to_pylist(), column
