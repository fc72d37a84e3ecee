"""Writes done off the event loop, in batches: CDRs and registration snapshots.

A committed write with synchronous=FULL costs an fsync (milliseconds on flash): done on the event
loop it would stall every call's signalling. A thread with its own connection applies whatever
accumulated in one transaction, so 200 calls per second cost a few fsyncs, not 200.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable

from sqlite_utils import Database

from .db import open_database, transaction

log = logging.getLogger(__name__)

Job = Callable[[Database], None]
_STOP = object()


class StoreWriter:
    def __init__(self, path: str | os.PathLike[str], max_batch: int = 500):
        self._path = path
        self._queue: queue.Queue[object] = queue.Queue()
        self._max_batch = max_batch
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a write (thread-safe); it runs inside a transaction with other queued writes."""
        self._idle.clear()
        self._queue.put(job)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed."""
        done = threading.Event()
        self.submit(lambda db: done.set())
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        db = open_database(self._path, check_same_thread=False)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    batch.append(item)
                stop = _STOP in batch
                self._apply(db, [job for job in batch if job is not _STOP])
                if stop:
                    return
        finally:
            db.conn.close()

    def _apply(self, db: Database, jobs: list) -> None:
        try:
            with transaction(db):
                for job in jobs:
                    try:
                        with transaction(db):  # a savepoint: one bad job does not lose the others
                            job(db)
                    except Exception:
                        log.exception("store write failed")
        except Exception:
            log.exception("store batch of %d writes failed", len(jobs))
