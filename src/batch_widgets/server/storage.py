"""SQLite (WAL) records of files, batches and per-request results; file bytes live on disk beside the database.

Each thread gets its own connection. Read-modify-write goes through ``BEGIN IMMEDIATE``, which takes SQLite's
write lock, so it is safe across threads *and* across processes sharing one data directory. Results are stored
as they are produced, in chunks, inside the same transaction as the batch's counts: after a crash the database
says exactly which requests ran.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from ..facts import ACTIVE_STATUSES, CANCELLABLE_STATUSES
from ..webhooks import BATCH_EVENTS

__all__ = ["Storage", "default_data_dir", "new_id", "new_batch_doc", "FILE_ID_RE", "BATCH_ID_RE"]

FILE_ID_RE = re.compile(r"^file-[A-Za-z0-9]{1,64}$")
BATCH_ID_RE = re.compile(r"^batch_[A-Za-z0-9]{1,64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS files_expiry ON files(expires_at);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS batches_status ON batches(status);
CREATE TABLE IF NOT EXISTS webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    webhook_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_events_due ON webhook_events(delivered_at, next_attempt_at);
CREATE TABLE IF NOT EXISTS results (
    batch_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    line TEXT NOT NULL,
    UNIQUE (batch_id, idx)
);
"""


def default_data_dir() -> Path:
    """``$BATCH_WIDGETS_HOME``, else the platform's user data directory for batch_widgets."""
    env = os.environ.get("BATCH_WIDGETS_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("batch_widgets", appauthor=False))


_last_ms = 0
_id_lock = threading.Lock()


def new_batch_doc(
    batch_id: str,
    *,
    endpoint: str,
    model: Optional[str],
    input_file_id: str,
    completion_window: str,
    now: int,
    window: int,
    metadata: Optional[dict],
    status: str = "validating",
    total: int = 0,
) -> dict[str, Any]:
    """A new batch's stored document, in the OpenAI shape every dialect stores; the timestamps still to come are
    None. A batch created ``in_progress`` (Anthropic checks requests up front) starts its run at ``now``."""
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": endpoint,
        "model": model,
        "errors": None,
        "input_file_id": input_file_id,
        "completion_window": completion_window,
        "status": status,
        "output_file_id": None,
        "error_file_id": None,
        "created_at": now,
        "in_progress_at": now if status == "in_progress" else None,
        "expires_at": now + window,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": total, "completed": 0, "failed": 0},
        "metadata": metadata,
        "usage": None,
    }


def new_id(prefix: str) -> str:
    """``prefix`` + 12 hex digits of a strictly increasing millisecond clock + 12 random hex digits.

    Ids created later sort later, so clients that break ``created_at`` ties by id (one-second resolution) keep
    the creation order.
    """
    global _last_ms
    with _id_lock:
        _last_ms = max(_last_ms + 1, time.time_ns() // 1_000_000)
        stamp = _last_ms
    return f"{prefix}{stamp:012x}{secrets.token_hex(6)}"


class Storage:
    def __init__(self, data_dir: os.PathLike | str) -> None:
        self.data_dir = Path(data_dir)
        self.files_dir = self.data_dir / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "batches.sqlite3"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self.clock = time.time  # when files expire is judged by this clock (tests move it forward)
        self.record_events = False  # set when webhooks are configured: terminal batches then queue an event
        self._db().executescript(_SCHEMA)
        self._remove_stale_parts()

    def _remove_stale_parts(self, age: float = 3600.0) -> None:
        # Half-written uploads/outputs of a crashed process; recent ones may belong to a live process.
        cutoff = time.time() - age
        for part in self.files_dir.glob("tmp-*.part"):
            try:
                if part.stat().st_mtime < cutoff:
                    part.unlink()
            except OSError:
                pass

    # -- connections ---------------------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("storage is closed")
            conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from the start (no lost updates)."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def release(self) -> None:
        """Close this thread's connection (worker threads call it as they end, so connections do not pile up)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._all_lock:
                if conn in self._all:
                    self._all.remove(conn)
            conn.close()

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:  # pragma: no cover - closing twice or mid-use
                    pass
            self._all.clear()

    # -- files ---------------------------------------------------------------------------------------------
    def file_path(self, file_id: str) -> Path:
        if not FILE_ID_RE.match(file_id):  # ids become paths: never let one escape the data dir
            raise ValueError(f"invalid file id {file_id!r}")
        return self.files_dir / file_id

    def temp_path(self) -> Path:
        return self.files_dir / f"tmp-{secrets.token_hex(8)}.part"

    def add_file(
        self,
        file_id: str,
        nbytes: int,
        created_at: int,
        filename: str,
        purpose: str,
        expires_at: Optional[int] = None,
        db: Optional[sqlite3.Connection] = None,
    ) -> dict:
        row = (file_id, nbytes, created_at, filename, purpose, expires_at)
        sql = "INSERT INTO files (id, bytes, created_at, filename, purpose, expires_at) VALUES (?,?,?,?,?,?)"
        if db is not None:
            db.execute(sql, row)
        else:
            with self.write() as w:
                w.execute(sql, row)
        return _file_doc(row)

    def get_file(self, file_id: str) -> Optional[dict]:
        row = (
            self._db()
            .execute("SELECT id, bytes, created_at, filename, purpose, expires_at FROM files WHERE id = ?", (file_id,))
            .fetchone()
        )
        if row is None or (row[5] is not None and row[5] <= self.clock()):
            return None  # an expired file is gone, even before the sweeper deletes it
        return _file_doc(row)

    def list_files(
        self, *, purpose: Optional[str], limit: int, after: Optional[str], order: str
    ) -> tuple[list[dict], bool]:
        desc = order != "asc"
        where: list[str] = ["(expires_at IS NULL OR expires_at > ?)"]
        args: list[Any] = [self.clock()]
        if purpose:
            where.append("purpose = ?")
            args.append(purpose)
        if after:
            where.append(f"seq {'<' if desc else '>'} COALESCE((SELECT seq FROM files WHERE id = ?), ?)")
            args += [after, -1 if desc else 2**62]
        sql = "SELECT id, bytes, created_at, filename, purpose, expires_at FROM files WHERE " + " AND ".join(where)
        sql += f" ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT ?"
        rows = self._db().execute(sql, (*args, limit + 1)).fetchall()
        return [_file_doc(r) for r in rows[:limit]], len(rows) > limit

    def delete_file(self, file_id: str) -> bool:
        with self.write() as db:
            gone = db.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount > 0
        if gone:
            try:
                self.file_path(file_id).unlink()
            except FileNotFoundError:
                pass
        return gone

    def delete_expired_files(self) -> int:
        """Delete files whose ``expires_at`` has come (output files by ``output_expires_after``, uploads by
        ``expires_after``), except the input of a batch still running. Returns how many went."""
        marks = ",".join("?" * len(ACTIVE_STATUSES))
        with self.write() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ? AND id NOT IN "
                    f"(SELECT json_extract(doc, '$.input_file_id') FROM batches WHERE status IN ({marks}))",
                    (self.clock(), *ACTIVE_STATUSES),
                )
            ]
            db.executemany("DELETE FROM files WHERE id = ?", [(i,) for i in ids])
        for file_id in ids:
            try:
                self.file_path(file_id).unlink()
            except FileNotFoundError:
                pass
        return len(ids)

    # -- batches -------------------------------------------------------------------------------------------
    def insert_batch(self, doc: dict, options: Optional[dict] = None) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO batches (id, status, doc, options) VALUES (?,?,?,?)",
                (doc["id"], doc["status"], json.dumps(doc), json.dumps(options or {})),
            )

    def get_batch(self, batch_id: str) -> Optional[dict]:
        row = self._db().execute("SELECT doc FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def batch_options(self, batch_id: str) -> dict:
        row = self._db().execute("SELECT options FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def batch_seq(self, batch_id: str) -> int:
        row = self._db().execute("SELECT seq FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return int(row[0]) if row else 0

    def batch_status(self, batch_id: str) -> Optional[str]:
        row = self._db().execute("SELECT status FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return row[0] if row else None

    def list_batches(
        self, *, limit: int, after: Optional[str], before: Optional[str] = None, glob: Optional[str] = None
    ) -> tuple[list[dict], bool]:
        """Newest first; ``after`` is the id of the last batch of the previous page, ``before`` the id of the first
        batch of the next (newer) page. ``glob`` keeps one dialect's ids (e.g. ``batch_*``)."""
        where, args = [], []
        if glob:
            where.append("id GLOB ?")
            args.append(glob)
        if after:
            where.append("seq < COALESCE((SELECT seq FROM batches WHERE id = ?), -1)")
            args.append(after)
        if before:
            where.append("seq > COALESCE((SELECT seq FROM batches WHERE id = ?), 1 << 62)")
            args.append(before)
        sql = "SELECT doc FROM batches" + (" WHERE " + " AND ".join(where) if where else "")
        # Paging towards newer batches reads upwards from the cursor, then shows the page newest first.
        sql += f" ORDER BY seq {'ASC' if before and not after else 'DESC'} LIMIT ?"
        rows = self._db().execute(sql, (*args, limit + 1)).fetchall()
        docs = [json.loads(r[0]) for r in rows[:limit]]
        if before and not after:
            docs.reverse()
        return docs, len(rows) > limit

    def delete_batch(self, batch_id: str) -> bool:
        """Forget a batch and its saved results (its files are deleted separately)."""
        with self.write() as db:
            self.delete_results(batch_id, db)
            return db.execute("DELETE FROM batches WHERE id = ?", (batch_id,)).rowcount > 0

    def active_batch_ids(self) -> list[str]:
        marks = ",".join("?" * len(ACTIVE_STATUSES))
        rows = (
            self._db()
            .execute(f"SELECT id FROM batches WHERE status IN ({marks}) ORDER BY seq", ACTIVE_STATUSES)
            .fetchall()
        )
        return [r[0] for r in rows]

    def enqueued_tokens(self, model: Optional[str], db: sqlite3.Connection) -> int:
        """Estimated input tokens of the validated, not yet terminal batches of ``model`` (call inside a write)."""
        marks = ",".join("?" * len(ACTIVE_STATUSES))
        row = db.execute(
            "SELECT COALESCE(SUM(json_extract(options, '$.estimated_tokens')), 0) FROM batches "
            f"WHERE status IN ({marks}) AND json_extract(doc, '$.model') IS ?",
            (*ACTIVE_STATUSES, model),
        ).fetchone()
        return int(row[0] or 0)

    def set_batch_option(self, batch_id: str, key: str, value: Any, db: sqlite3.Connection) -> None:
        db.execute(
            "UPDATE batches SET options = json_set(options, ?, json(?)) WHERE id = ?",
            (f"$.{key}", json.dumps(value), batch_id),
        )

    def update_batch(
        self, batch_id: str, change: Callable[[dict], Any], db: Optional[sqlite3.Connection] = None
    ) -> tuple[dict, Any]:
        """Apply ``change(doc)`` atomically; returns (doc, what change returned). Raises KeyError if unknown."""
        if db is None:
            with self.write() as w:
                return self.update_batch(batch_id, change, w)
        row = db.execute("SELECT doc FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise KeyError(batch_id)
        doc = json.loads(row[0])
        before = doc["status"]
        result = change(doc)
        db.execute("UPDATE batches SET status = ?, doc = ? WHERE id = ?", (doc["status"], json.dumps(doc), batch_id))
        if self.record_events and doc["status"] in BATCH_EVENTS and before not in BATCH_EVENTS:
            self._queue_event(db, BATCH_EVENTS[doc["status"]], batch_id)  # same transaction: never lost, never twice
        return doc, result

    def request_cancel(self, batch_id: str) -> tuple[dict, str]:
        """Move a cancellable batch to ``cancelling`` (atomically); returns (doc, its status afterwards). Each API
        dialect words its own refusal from that status."""

        def change(d: dict) -> str:
            if d["status"] in CANCELLABLE_STATUSES:
                d.update(status="cancelling", cancelling_at=int(time.time()))
            return d["status"]

        return self.update_batch(batch_id, change)

    # -- webhook events ------------------------------------------------------------------------------------
    def _queue_event(self, db: sqlite3.Connection, kind: str, batch_id: str) -> None:
        now = int(time.time())
        event_id = f"evt_{secrets.token_hex(16)}"
        body = json.dumps(
            {"id": event_id, "object": "event", "created_at": now, "type": kind, "data": {"id": batch_id}},
            separators=(",", ":"),
        )
        db.execute(
            "INSERT INTO webhook_events (id, webhook_id, body, next_attempt_at) VALUES (?,?,?,?)",
            (event_id, f"wh_{secrets.token_hex(16)}", body, time.time()),
        )

    def due_events(self, now: float, limit: int = 50) -> list[tuple[str, str, str, int]]:
        """Undelivered events whose next attempt is due: (event id, webhook id, body, attempts so far)."""
        return (
            self._db()
            .execute(
                "SELECT id, webhook_id, body, attempts FROM webhook_events WHERE delivered_at IS NULL "
                "AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            )
            .fetchall()
        )

    def next_event_due(self) -> Optional[float]:
        row = (
            self._db().execute("SELECT MIN(next_attempt_at) FROM webhook_events WHERE delivered_at IS NULL").fetchone()
        )
        return row[0] if row else None

    def event_delivered(self, event_id: str) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE webhook_events SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?",
                (int(time.time()), event_id),
            )

    def event_failed(self, event_id: str, next_attempt_at: float) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE webhook_events SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                (next_attempt_at, event_id),
            )

    # -- results -------------------------------------------------------------------------------------------
    def add_results(self, batch_id: str, rows: Iterable[tuple[int, int, str]], change: Callable[[dict], Any]) -> dict:
        """Insert (idx, ok, line) rows and update the batch document, in one transaction."""
        with self.write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO results (batch_id, idx, ok, line) VALUES (?,?,?,?)",
                [(batch_id, idx, ok, line) for idx, ok, line in rows],
            )
            doc, _ = self.update_batch(batch_id, change, db)
        return doc

    def done_indices(self, batch_id: str) -> set[int]:
        rows = self._db().execute("SELECT idx FROM results WHERE batch_id = ?", (batch_id,))
        return {r[0] for r in rows}

    def result_lines(self, batch_id: str, ok: bool) -> Iterator[str]:
        cur = self._db().execute(
            "SELECT line FROM results WHERE batch_id = ? AND ok = ? ORDER BY idx", (batch_id, 1 if ok else 0)
        )
        while True:
            chunk = cur.fetchmany(1000)
            if not chunk:
                return
            for (line,) in chunk:
                yield line

    def delete_results(self, batch_id: str, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM results WHERE batch_id = ?", (batch_id,))


def _file_doc(row: tuple) -> dict:
    file_id, nbytes, created_at, filename, purpose, expires_at = row
    return {
        "id": file_id,
        "object": "file",
        "bytes": nbytes,
        "created_at": created_at,
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": expires_at,
    }
