"""Repair jobs: a bounded queue in front of one generation worker.

The model owns the CPU cores, so repairs run one at a time (or `workers` at a time on a GPU
server); requests beyond `capacity` waiting jobs are refused at once rather than piling up.
Every job keeps its progress events so a client can wait, poll or stream them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from repomend.backends.base import Backend
from repomend.discovery import DiscoveryError
from repomend.loop import (
    Event,
    InitialTestsRun,
    RepairOptions,
    RepairRequest,
    SandboxUnusable,
    TestRunner,
    TurnStarted,
    repair,
)
from repomend.progress_events import (
    AttemptTestedEvent,
    InitialTestsEvent,
    ProgressEvent,
    StartedEvent,
    TestsFoundEvent,
    TurnStartedEvent,
)
from repomend.trajectory import Status, Trajectory
from server.repair_status import JobState

log = logging.getLogger("repomend.server")


class QueueFull(RuntimeError):
    """More jobs are waiting than the server accepts; the client should retry later."""

    def __init__(self, depth: int, retry_after: float) -> None:
        super().__init__(f"{depth} repairs are waiting; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


def progress_event(event: Event) -> ProgressEvent:
    """The loop's event as the progress event an editor shows per turn."""
    if isinstance(event, InitialTestsRun):
        r = event.results
        return InitialTestsEvent(passed=r.passed_count, failed=len(r.failures) + len(r.collection_errors))
    if isinstance(event, TurnStarted):
        return TurnStartedEvent(turn=event.turn, max_turns=event.max_turns)
    attempt = event.attempt
    return AttemptTestedEvent(
        turn=event.turn,
        max_turns=event.max_turns,
        sample=event.sample,
        passed=attempt.passed,
        tests_passed=attempt.tests_passed,
        tests_failed=attempt.tests_failed,
        rejection=attempt.rejection,
        reasoning_words=len(attempt.reasoning.split()) if attempt.reasoning else 0,
        generation_seconds=round(attempt.generation_seconds, 3),
        test_seconds=round(attempt.test_seconds, 3),
    )


@dataclass
class RepairJob:
    request: RepairRequest
    options: RepairOptions
    runner: TestRunner
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    prepare: Callable[[RepairRequest], RepairRequest] | None = None
    """Slow set-up done on the worker, not in the request (finding the covering tests)."""
    state: JobState = JobState.QUEUED
    outcome: Status | None = None
    """How it ended, once done: the trajectory's status, or cancelled / failed before the loop ran."""
    trajectory: Trajectory | None = None
    error: str | None = None
    error_code: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    events: list[ProgressEvent] = field(default_factory=list)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    _published: bool = field(default=False, repr=False)

    @property
    def finished_ok(self) -> bool:
        """Finished and recorded: waiters wake only once the outcome is written down."""
        return self._published

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Stop at the next turn boundary (or before starting, if still queued)."""
        self._cancel.set()

    def _record(self, event: ProgressEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def _finish(
        self,
        outcome: Status,
        *,
        trajectory: Trajectory | None = None,
        error: str | None = None,
        error_code: str | None = None,
    ) -> None:
        with self._changed:
            self.state, self.outcome, self.trajectory = JobState.DONE, outcome, trajectory
            self.error, self.error_code = error, error_code
            self.finished = time.time()

    def _publish(self) -> None:
        with self._changed:
            self._published = True
            self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finished; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.finished_ok, timeout)

    def next_events(self, start: int = 0, timeout: float | None = None) -> list[ProgressEvent]:
        """The events from index `start` on, as soon as there is one (empty after `timeout` without any).

        What a stream sends at once: waiting for more would hold back progress already made.
        """
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) > start or self.finished_ok, timeout)
            return self.events[start:]

    def follow(self, start: int = 0, timeout: float | None = None) -> Iterator[ProgressEvent]:
        """Events from index `start` on, as they come, ending when the job finishes.

        Each wait is bounded by `timeout` (None = unbounded); a timeout ends the iteration, so
        a streaming client can send a keep-alive and resume from where it stopped.
        """
        index = start
        while True:
            with self._changed:
                if not self._changed.wait_for(
                    lambda seen=index: len(self.events) > seen or self.finished_ok, timeout
                ):
                    return
                fresh = self.events[index:]
                done = self.finished_ok
            yield from fresh
            index += len(fresh)
            if done and index >= len(self.events):
                return


class RepairQueue:
    """Accepts jobs up to `capacity` waiting, runs them on `workers` threads through one backend."""

    def __init__(
        self,
        backend: Backend,
        *,
        capacity: int = 8,
        workers: int = 1,
        seconds_per_job: float = 30.0,
        on_finish: Callable[[RepairJob], None] | None = None,
    ) -> None:
        if capacity < 0 or workers < 1:
            raise ValueError("capacity must be >= 0 and workers >= 1")
        self.backend = backend
        self.capacity = capacity
        self.seconds_per_job = seconds_per_job
        """Rough duration of one repair, to tell refused clients when to come back."""
        self._on_finish = on_finish
        self._pending: queue.Queue[RepairJob | None] = queue.Queue()
        self._jobs: dict[str, RepairJob] = {}
        self._lock = threading.Lock()
        self._waiting = 0
        self._running = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"repair-worker-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def depth(self) -> int:
        """Jobs waiting for a worker (not counting running ones)."""
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    def submit(
        self,
        request: RepairRequest,
        options: RepairOptions,
        runner: TestRunner,
        *,
        job_id: str | None = None,
        prepare: Callable[[RepairRequest], RepairRequest] | None = None,
    ) -> RepairJob:
        with self._lock:
            if self._closed:
                raise RuntimeError("the repair queue is shut down")
            if self._waiting >= self.capacity:
                retry = self.seconds_per_job * (self._waiting / len(self._threads) + 1)
                raise QueueFull(self._waiting, retry)
            job = RepairJob(request, options, runner, prepare=prepare)
            if job_id is not None:
                job.id = job_id
            self._jobs[job.id] = job
            self._waiting += 1
        self._pending.put(job)
        return job

    def get(self, job_id: str) -> RepairJob | None:
        return self._jobs.get(job_id)

    def forget(self, job_id: str) -> None:
        """Drop a finished job from memory (its record lives in the database)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.finished_ok:
                del self._jobs[job_id]

    def close(self, timeout: float = 5.0) -> None:
        """Cancel everything and stop the workers."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        for _ in self._threads:
            self._pending.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        for job in iter(self._pending.get, None):
            with self._lock:
                self._waiting -= 1
                self._running += 1
            try:
                self._run(job)
            except Exception as err:  # a bug in bookkeeping must not kill the worker
                job._finish(Status.FAILED, error=f"{type(err).__name__}: {err}", error_code="internal_error")
            finally:
                with self._lock:
                    self._running -= 1
                try:
                    if self._on_finish is not None:
                        self._on_finish(job)
                except Exception:  # recording failed; the worker must go on serving
                    log.exception("could not record repair %s", job.id)
                finally:
                    job._publish()

    def _run(self, job: RepairJob) -> None:
        if job.cancel_requested:
            job._finish(Status.CANCELLED)
            return
        job.started = time.time()
        job.state = JobState.RUNNING
        job._record(StartedEvent())
        try:
            if job.prepare is not None:
                job.request = job.prepare(job.request)
                job._record(TestsFoundEvent(tests=list(job.request.tests)))
        except DiscoveryError as err:
            job._finish(Status.FAILED, error=str(err), error_code="tests_not_found")
            return
        except Exception as err:
            job._finish(Status.FAILED, error=f"{type(err).__name__}: {err}", error_code="internal_error")
            return
        try:
            trajectory = repair(
                job.request,
                self.backend,
                job.runner,
                job.options,
                on_event=lambda event: job._record(progress_event(event)),
                should_cancel=job._cancel.is_set,
            )
        except SandboxUnusable as err:  # said before any model call, in one line
            job._finish(Status.FAILED, error=str(err), error_code="sandbox_unusable")
            return
        except Exception as err:  # the job fails; the worker and the server live on
            job._finish(Status.FAILED, error=f"{type(err).__name__}: {err}", error_code="repair_failed")
            return
        finally:
            if callable(close := getattr(job.runner, "close", None)):
                close()  # a warm runner's spare sandbox ends with its repair
        if trajectory.status is Status.FAILED:  # the engine failed; the turns before are kept
            error = trajectory.error
            job._finish(trajectory.status, trajectory=trajectory, error=error, error_code="engine_failed")
            return
        job._finish(trajectory.status, trajectory=trajectory)
