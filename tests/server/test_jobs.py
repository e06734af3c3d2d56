"""The repair queue: bounded, one worker, progress events, cancellation; scripted model, real sandbox."""

from __future__ import annotations

import threading

import pytest

from repomend.backends.scripted import ScriptedBackend
from repomend.contract import prompts
from repomend.loop import RepairOptions, RepairRequest, sandbox_test_runner
from repomend.trajectory import Status
from server.jobs import JobState, QueueFull, RepairQueue
from tests.support.repos import FIXED_MEAN, WRONG_MEAN

TESTS = ["tests/test_stats.py::test_mean", "tests/test_stats.py::test_mean_single"]


def reply(code: str) -> str:
    return prompts.as_code_reply(code)


@pytest.fixture
def runner(settings, python):
    return sandbox_test_runner(settings, python)


def request(repo) -> RepairRequest:
    return RepairRequest(repo, "pkg/stats.py", "Stats.mean", TESTS)


def test_job_runs_and_streams_its_turns(stats_repo, runner):
    jobs = RepairQueue(ScriptedBackend([reply(WRONG_MEAN), reply(FIXED_MEAN)]))
    try:
        job = jobs.submit(request(stats_repo), RepairOptions(), runner)
        events = list(job.follow(timeout=60))
        assert job.state is JobState.DONE
        assert job.trajectory.status is Status.FIXED
        kinds = [e.type for e in events]
        assert kinds == [
            "started",
            "initial_tests",
            "turn_started",
            "attempt_tested",
            "turn_started",
            "attempt_tested",
        ]
        assert events[3].tests_passed == 1 and not events[3].passed
        assert events[5].passed and events[5].tests_passed == 2
        # a late follower replays everything
        assert list(job.follow()) == events
    finally:
        jobs.close()


class GatedBackend(ScriptedBackend):
    """Blocks in generate until released, so the test controls what is running."""

    def __init__(self, replies):
        super().__init__(replies)
        self.entered = threading.Event()
        self.release = threading.Event()

    def generate(self, *args, **kwargs):
        self.entered.set()
        assert self.release.wait(60)
        return super().generate(*args, **kwargs)


def test_queue_refuses_beyond_capacity_with_retry_hint(stats_repo, runner):
    backend = GatedBackend([reply(FIXED_MEAN)] * 3)
    jobs = RepairQueue(backend, capacity=2, seconds_per_job=10)
    try:
        first = jobs.submit(request(stats_repo), RepairOptions(), runner)
        assert backend.entered.wait(60)  # first is running, nothing waits
        waiting = [jobs.submit(request(stats_repo), RepairOptions(), runner) for _ in range(2)]
        assert jobs.depth == 2 and jobs.running == 1
        with pytest.raises(QueueFull) as refused:
            jobs.submit(request(stats_repo), RepairOptions(), runner)
        assert refused.value.retry_after == pytest.approx(30)
        backend.release.set()
        for job in [first, *waiting]:
            assert job.wait(120)
            assert job.state is JobState.DONE and job.trajectory.status is Status.FIXED
        assert jobs.depth == 0
    finally:
        backend.release.set()
        jobs.close()


def test_cancel_running_and_queued_jobs(stats_repo, runner):
    backend = GatedBackend([reply(WRONG_MEAN)] * 5)
    jobs = RepairQueue(backend)
    try:
        running = jobs.submit(request(stats_repo), RepairOptions(), runner)
        assert backend.entered.wait(60)
        queued = jobs.submit(request(stats_repo), RepairOptions(), runner)
        queued.cancel()
        running.cancel()
        backend.release.set()
        assert running.wait(60) and queued.wait(60)
        assert running.state is JobState.DONE and running.outcome is Status.CANCELLED
        assert running.trajectory.status is Status.CANCELLED
        assert all(turn.attempts for turn in running.trajectory.turns)
        assert queued.outcome is Status.CANCELLED and queued.trajectory is None
        assert len(backend.calls) == 1
    finally:
        backend.release.set()
        jobs.close()


def test_a_failing_job_does_not_stop_the_worker(stats_repo, runner):
    jobs = RepairQueue(ScriptedBackend([]))  # runs out of replies at once
    try:
        failed = jobs.submit(request(stats_repo), RepairOptions(), runner)
        assert failed.wait(60)
        assert failed.outcome is Status.FAILED and "ran out of replies" in failed.error
        jobs.backend = ScriptedBackend([reply(FIXED_MEAN)])
        ok = jobs.submit(request(stats_repo), RepairOptions(), runner)
        assert ok.wait(60) and ok.state is JobState.DONE
    finally:
        jobs.close()


def test_next_events_hands_over_each_event_as_it_comes(stats_repo, runner):
    """A stream must not hold progress back until a quiet spell: each wait ends at the next event."""
    backend = GatedBackend([reply(FIXED_MEAN)])
    jobs = RepairQueue(backend)
    try:
        job = jobs.submit(request(stats_repo), RepairOptions(), runner)
        first = job.next_events(0, timeout=60)
        assert first and first[0].type == "started"
        seen = list(first)
        while not any(e.type == "turn_started" for e in seen):
            seen += job.next_events(len(seen), timeout=60)
        assert job.state is JobState.RUNNING  # the turn is still waiting for the model
        assert job.next_events(len(seen), timeout=0.2) == []
        backend.release.set()
        while not job.finished_ok:
            seen += job.next_events(len(seen), timeout=60)
        assert [e.type for e in seen][-1] == "attempt_tested"
    finally:
        backend.release.set()
        jobs.close()
