"""The suite is hermetic: nothing it runs writes to the user's data directory.

The embedded local server keeps its batches in ``$BATCH_WIDGETS_HOME``, else the platform's user data directory
(``~/.local/share/batch_widgets``), where a user's ``make demo`` would later find them. Before any test imports
batch_widgets, every test session

- points ``BATCH_WIDGETS_HOME`` at a fresh temporary directory (subprocesses and kernels inherit it), and
- points ``XDG_DATA_HOME`` (where platformdirs puts the user data directory on Linux) at an empty trap directory,

and its last teardown proves that nothing fell back to the platform's directory: the trap holds no
``batch_widgets`` directory. (Comparing the real ``~/.local/share/batch_widgets`` before and after would also
catch other processes of the same user writing there while the suite runs; the trap sees this session only.)
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

import pytest

_HOME = tempfile.mkdtemp(prefix="bw-tests-home-")
_TRAP = tempfile.mkdtemp(prefix="bw-tests-xdg-data-")
os.environ["BATCH_WIDGETS_HOME"] = _HOME
os.environ["XDG_DATA_HOME"] = _TRAP


def platform_data_dir() -> pathlib.Path:
    """Where the local server would write with no BATCH_WIDGETS_HOME (what ``server.storage`` falls back to)."""
    import platformdirs

    return pathlib.Path(platformdirs.user_data_dir("batch_widgets", appauthor=False))


@pytest.fixture(scope="session", autouse=True)
def _user_data_dir_untouched():
    assert platform_data_dir().parent == pathlib.Path(_TRAP)  # the trap is where a fallback would land
    yield
    fell_back = platform_data_dir()
    written = sorted(str(p.relative_to(fell_back)) for p in fell_back.rglob("*")) if fell_back.exists() else None
    shutil.rmtree(_HOME, ignore_errors=True)
    shutil.rmtree(_TRAP, ignore_errors=True)
    assert written is None, (
        f"the test session wrote to the platform's user data directory (here the trap {fell_back}), which outside "
        f"the suite is the user's ~/.local/share/batch_widgets: {written}. Tests must use BATCH_WIDGETS_HOME or a "
        "tmp_path."
    )
