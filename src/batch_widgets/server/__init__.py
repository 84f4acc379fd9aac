"""The embedded local batch server: OpenAI-compatible ``/v1/files`` + ``/v1/batches`` that work offline.

- ``local``: ``LocalBatchServer`` (in-process, loopback, context manager) and ``shared_server()`` (one per process)
- ``app``: the FastAPI routes; ``storage``: SQLite (WAL) + files on disk; ``runner``: the batch lifecycle on
  background threads, resumable after a crash; ``executor``: simulated or upstream answers; ``cli``: ``batch-widgets``

Nothing is imported here, so ``import batch_widgets.server`` stays free of FastAPI until a submodule is used.
"""
