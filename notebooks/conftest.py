"""Settings for running the example notebooks under nbval (``make test-notebooks``).

The notebooks demo against the embedded local server. Their kernels inherit this process's environment, so:
no provider keys (a cell that needs one skips itself) and a fresh data directory for the embedded server,
removed afterwards (not the user's own, which would collect test batches run after run).
"""

from __future__ import annotations

import os
import shutil
import tempfile

_home = None


def pytest_configure(config):
    global _home
    for key in [k for k in os.environ if k.startswith(("OPENAI_", "AZURE_OPENAI_", "ANTHROPIC_", "MISTRAL_"))]:
        del os.environ[key]
    _home = tempfile.mkdtemp(prefix="bw-notebooks-")
    os.environ["BATCH_WIDGETS_HOME"] = _home


def pytest_unconfigure(config):
    if _home:
        shutil.rmtree(_home, ignore_errors=True)
