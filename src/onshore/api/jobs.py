"""Background jobs: long work (simulate, plan, check of every product) with progress,
result and cancel. One worker thread; a job checks its cancel flag at each progress step."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


class Cancelled(Exception):
    """Raised inside a job's progress callback once the job is cancelled."""


@dataclass
class Job:
    id: str
    kind: str
    params: dict[str, Any]
    key_name: str
    status: str = "queued"
    progress: float = 0.0
    message: str = "waiting for the worker"
    result: Any = None
    error: dict[str, Any] | None = None
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    finished_at: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def step(self, fraction: float | None, message: str) -> None:
        """Report progress; raises Cancelled when the job was cancelled."""
        if self.cancel.is_set():
            raise Cancelled()
        if fraction is not None:
            self.progress = max(0.0, min(1.0, fraction))
        self.message = message

    def public(self, with_result: bool = True) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "status": self.status,
            "progress": round(self.progress, 4),
            "message": self.message,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "result": self.result if with_result and self.status == "done" else None,
        }


class Jobs:
    """The jobs of one app: submitted, run one at a time, kept until the app stops
    (the oldest finished ones are dropped beyond ``keep``)."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self.jobs: dict[str, Job] = {}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onshore-job")
        self.lock = threading.Lock()

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        key_name: str,
        work: Callable[[Job], Any],
        on_error: Callable[[BaseException], dict[str, Any]],
    ) -> Job:
        job = Job(uuid.uuid4().hex[:16], kind, params, key_name)
        with self.lock:
            self.jobs[job.id] = job
            done = [j for j in self.jobs.values() if j.finished_at]
            for old in done[: max(0, len(self.jobs) - self.keep)]:
                self.jobs.pop(old.id, None)

        def run() -> None:
            if job.cancel.is_set():
                return
            job.status, job.message = "running", "started"
            try:
                result = work(job)
                if job.cancel.is_set():
                    raise Cancelled()
                job.result, job.status, job.progress, job.message = result, "done", 1.0, "done"
            except Cancelled:
                job.status, job.message = "cancelled", "cancelled"
            except BaseException as e:  # noqa: BLE001  (reported on the job, not raised)
                job.status, job.message, job.error = "failed", "failed", on_error(e)
            job.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

        self.pool.submit(run)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        job.cancel.set()
        if job.status == "queued":
            job.status, job.message = "cancelled", "cancelled before it started"
            job.finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return job

    def shutdown(self) -> None:
        """Cancel every job and start a fresh worker (the app may serve again)."""
        for j in self.jobs.values():
            j.cancel.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onshore-job")
