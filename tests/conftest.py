"""The suite is hermetic: nothing it runs writes to the user's data directory.

The embedded local server keeps its batches in ``$BATCH_WIDGETS_HOME``, else the platform's user data directory
(``~/.local/share/batch_widgets``), where a user's ``make demo`` would later find them. Every test session points
``BATCH_WIDGETS_HOME`` at a fresh temporary directory before any test imports batch_widgets (subprocesses and
kernels inherit it), and its last teardown proves the user's directory is as it was when the session began.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

import pytest

_HOME = tempfile.mkdtemp(prefix="bw-tests-home-")
os.environ["BATCH_WIDGETS_HOME"] = _HOME


def user_data_dir() -> pathlib.Path:
    """Where the local server would write with no BATCH_WIDGETS_HOME (what ``server.storage`` falls back to)."""
    import platformdirs

    return pathlib.Path(platformdirs.user_data_dir("batch_widgets", appauthor=False))


def snapshot(path: pathlib.Path) -> "list[tuple[str, int, int]] | None":
    """Every entry under ``path`` with its size and mtime (None if ``path`` does not exist)."""
    if not path.exists():
        return None
    entries = [path, *path.rglob("*")]
    return sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in entries)


_USER_DIR = user_data_dir()
_BEFORE = snapshot(_USER_DIR)


@pytest.fixture(scope="session", autouse=True)
def _user_data_dir_untouched():
    yield
    shutil.rmtree(_HOME, ignore_errors=True)
    after = snapshot(_USER_DIR)
    assert after == _BEFORE, (
        f"the test session wrote to the user's data directory {_USER_DIR} (tests must use BATCH_WIDGETS_HOME or "
        f"a tmp_path): before {_BEFORE}, after {after}")
