"""BatchClient and AsyncBatchClient: the Batch API transport with the workflow on top, in one object.

    client = BatchClient()                          # OPENAI_* from the environment, else the local server
    batch = client.submit(requests)                 # workflow: validate, upload, create
    batch = client.wait(batch.id)
    page = client.list_batches()                    # transport: the plain API calls

    aclient = AsyncBatchClient()                    # the same names and arguments, awaited
    batch = await aclient.wait((await aclient.submit(requests)).id)

Each class *is* its transport (``BatchTransport`` / ``AsyncBatchTransport``: batches, files, paging, retries,
typed errors, event hooks) and *has* a workflow (``client.workflow``: ``Workflow`` / ``AsyncWorkflow``) to which
``submit``, ``wait``, ``results`` and ``retry_failed`` delegate; jobs (``submit_job``, ``job``, ``jobs``) come
from ``jobs.JobsMixin`` / ``AsyncJobsMixin``, written against the transport's calls. The transport never imports
the workflow or the jobs; this module is the one place that joins them.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from .jobs import AsyncJobsMixin, JobsMixin
from .transport import MAX_PAGES, AsyncBatchTransport, BatchTransport  # noqa: F401 - MAX_PAGES: where users found it
from .workflow import AsyncWorkflow, Workflow

__all__ = ["AsyncBatchClient", "BatchClient"]

#: The workflow methods the public clients offer, the same on both.
WORKFLOW_METHODS = ("submit", "wait", "results", "retry_failed")


def _delegate(impl: Callable[..., Any]) -> Any:
    """A method that calls ``self.workflow.<name>``, with the workflow method's signature and docstring."""
    name = impl.__name__
    if inspect.iscoroutinefunction(impl):

        @functools.wraps(impl)
        async def coroutine(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await getattr(self.workflow, name)(*args, **kwargs)

        return coroutine

    @functools.wraps(impl)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.workflow, name)(*args, **kwargs)

    return method


class BatchClient(BatchTransport, JobsMixin):
    """Synchronous client for an OpenAI-compatible Batch API (OpenAI, Azure OpenAI, or the local server): the
    plain API calls of :class:`~batch_widgets.transport.BatchTransport` plus the workflow (submit, wait, results,
    retry_failed) of :class:`~batch_widgets.workflow.Workflow`."""

    @functools.cached_property
    def workflow(self) -> Workflow:
        return Workflow(self)

    submit = _delegate(Workflow.submit)
    wait = _delegate(Workflow.wait)
    results = _delegate(Workflow.results)
    retry_failed = _delegate(Workflow.retry_failed)

    def __enter__(self) -> "BatchClient":
        return self


class AsyncBatchClient(AsyncBatchTransport, AsyncJobsMixin):
    """The async twin of :class:`BatchClient`: every method a coroutine, with the same names and arguments."""

    @functools.cached_property
    def workflow(self) -> AsyncWorkflow:
        return AsyncWorkflow(self)

    submit = _delegate(AsyncWorkflow.submit)
    wait = _delegate(AsyncWorkflow.wait)
    results = _delegate(AsyncWorkflow.results)
    retry_failed = _delegate(AsyncWorkflow.retry_failed)

    async def __aenter__(self) -> "AsyncBatchClient":
        return self
