"""batch_widgets: Jupyter widgets and a Python API for OpenAI-compatible Batch API jobs.

Public names are resolved lazily so ``import batch_widgets`` stays light: pandas, altair, FastAPI and the
widget stack load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Batch": "models",
    "BatchStatus": "models",
    "FileObject": "models",
    "BatchClient": "client",
    "AsyncBatchClient": "client",
    "Job": "jobs",
    "AsyncJob": "jobs",
    "BatchWidgetsError": "errors",
    "APIError": "errors",
    "LocalServerWarning": "errors",
    "LocalBatchServer": "server.local",
    "validate_requests": "validation",
    "verify_webhook": "webhooks",
    "build_requests": "jsonl",
    "batch_history": "history",
    "BatchHistory": "history",
    "BatchDashboard": "widgets.dashboard",
    "BatchList": "widgets.active_list",
    "BatchDetails": "widgets.details",
    "CreateBatch": "widgets.create",
    "BatchHistoryView": "widgets.history_view",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batch_widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
