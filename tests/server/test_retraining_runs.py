"""Retraining jobs as rows: the state machine, one live job per repository, the schedule, the gate."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from repomend.contract.conversation import Mode
from server.db import (
    Repair,
    RepairStatus,
    Repository,
    TrainingRun,
    TrainingState,
    Verdict,
    make_engine,
    session_factory,
)
from server.errors import ApiError
from server.retraining import runs, schedule
from server.retraining.gate import Contender, decide, serving_choice
from server.retraining.policy import RetrainingPolicy, policy_of


@pytest.fixture
def sessions(server_settings):
    return session_factory(make_engine(server_settings.database_url))


@pytest.fixture
def repository(sessions, tmp_path):
    with sessions() as session:
        row = Repository(name="stats", path=str(tmp_path / "stats"), python="/usr/bin/python3")
        session.add(row)
        session.commit()
        return row.id


def _repo(session, repository_id) -> Repository:
    return session.get(Repository, repository_id)


def test_a_second_job_for_a_repository_is_refused_while_one_is_live(sessions, repository):
    with sessions() as session:
        first = runs.create_run(session, _repo(session, repository), "manual", {})
        with pytest.raises(ApiError) as refused:
            runs.create_run(session, _repo(session, repository), "manual", {})
        assert refused.value.status == 409 and f"job {first.id}" in refused.value.message
        runs.transition(session, first, TrainingState.RUNNING)
        runs.transition(session, first, TrainingState.SUCCEEDED, "promoted")
        second = runs.create_run(session, _repo(session, repository), "manual", {})
        assert second.state is TrainingState.QUEUED


def test_the_database_itself_refuses_two_live_jobs(sessions, repository):
    with sessions() as session:
        session.add(TrainingRun(repository_id=repository, state=TrainingState.RUNNING))
        session.commit()
        session.add(TrainingRun(repository_id=repository, state=TrainingState.QUEUED))
        with pytest.raises(IntegrityError):
            session.commit()


def test_finished_jobs_never_change_and_states_follow_the_machine(sessions, repository):
    with sessions() as session:
        run = runs.create_run(session, _repo(session, repository), "manual", {})
        with pytest.raises(runs.InvalidTransition):
            runs.transition(session, run, TrainingState.SUCCEEDED)  # never ran
        runs.transition(session, run, TrainingState.RUNNING)
        assert run.pid is not None and run.started_at is not None
        runs.transition(session, run, TrainingState.FAILED, "sft: RuntimeError: boom")
        for state in TrainingState:
            with pytest.raises(runs.InvalidTransition):
                runs.transition(session, run, state)
        assert run.reason == "sft: RuntimeError: boom" and run.finished_at is not None


def test_orphaned_jobs_are_failed_at_start_up_and_live_workers_are_left(sessions, repository, tmp_path):
    with sessions() as session:
        other = Repository(name="other", path=str(tmp_path / "other"), python="/usr/bin/python3")
        session.add(other)
        session.add(TrainingRun(repository_id=repository, state=TrainingState.RUNNING, pid=111, step="sft"))
        session.add(TrainingRun(repository=other, state=TrainingState.RUNNING, pid=222))
        session.commit()
        failed = runs.fail_orphans(session, lambda pid: pid == 222, "interrupted: the server restarted")
        states = {r.pid: (r.state, r.reason) for r in session.query(TrainingRun)}
    assert len(failed) == 1
    assert states[111] == (TrainingState.FAILED, "interrupted: the server restarted")
    assert states[222][0] is TrainingState.RUNNING


def test_the_log_keeps_its_tail(sessions, repository):
    with sessions() as session:
        run = runs.create_run(session, _repo(session, repository), "manual", {})
        for index in range(3):
            runs.append_log(session, run, f"line {index} " + "x" * (runs.MAX_LOG_CHARS // 2))
        assert len(run.log) == runs.MAX_LOG_CHARS and "line 2" in run.log and "line 0" not in run.log


def _accept(session, repository_id: int, verdict: Verdict = Verdict.ACCEPTED) -> None:
    repair = Repair(
        repository_id=repository_id,
        model="m",
        mode=Mode.NO_THINK,
        max_turns=5,
        status=RepairStatus.FIXED,
        file_path="stats.py",
        qualname="mean",
    )
    repair.give_feedback(verdict)
    session.add(repair)
    session.commit()


def test_schedule_starts_a_job_after_n_accepted_fixes_and_never_two(sessions, repository):
    launched: list[int] = []
    with sessions() as session:
        _repo(session, repository).retraining = {"after_accepted": 2}
        session.commit()
        _accept(session, repository)
        _accept(session, repository, Verdict.REJECTED)
    assert schedule.tick(sessions, lambda run_id, _name: launched.append(run_id)) == []
    with sessions() as session:
        _accept(session, repository)
    started = schedule.tick(sessions, lambda run_id, _name: launched.append(run_id))
    assert started == launched and len(started) == 1
    assert schedule.tick(sessions, lambda run_id, _name: launched.append(run_id)) == []  # one is live
    with sessions() as session:
        run = session.get(TrainingRun, started[0])
        assert run.trigger == "feedback" and run.config["after_accepted"] == 2
        runs.transition(session, run, TrainingState.RUNNING)
        runs.transition(session, run, TrainingState.SUCCEEDED)
    # the two accepted fixes were counted before that job: nothing is due until two more arrive
    assert schedule.tick(sessions, lambda run_id, _name: launched.append(run_id)) == []


def test_schedule_by_interval_counts_from_the_last_job(sessions, repository):
    now = datetime.now(UTC)
    with sessions() as session:
        repo = _repo(session, repository)
        repo.retraining = {"every_hours": 24}
        session.commit()
        assert schedule.due_trigger(session, repo, policy_of(repo.retraining), now) is None
        policy = policy_of(repo.retraining)
        assert schedule.due_trigger(session, repo, policy, now + timedelta(hours=25)) == "schedule"
        session.add(
            TrainingRun(repository=repo, state=TrainingState.SUCCEEDED, created_at=now + timedelta(hours=20))
        )
        session.commit()
        assert schedule.due_trigger(session, repo, policy, now + timedelta(hours=25)) is None
        assert schedule.due_trigger(session, repo, policy, now + timedelta(hours=45)) == "schedule"


def test_policy_overrides_are_validated():
    assert policy_of({"epochs": 2}, {"dpo": True}) == RetrainingPolicy(epochs=2, dpo=True)
    with pytest.raises(ApiError, match="margin"):
        policy_of({"margin": 2})
    with pytest.raises(ApiError, match="unknown"):
        policy_of(None, {"unknown": 1})


@pytest.mark.parametrize(
    ("candidate", "baseline", "margin", "promote"),
    [(0.6, 0.5, 0.05, True), (0.5, 0.5, 0.0, True), (0.52, 0.5, 0.05, False), (0.4, 0.5, 0.0, False)],
)
def test_gate_promotes_only_a_measurably_better_adapter(candidate, baseline, margin, promote):
    decision = decide(candidate, baseline, margin, "the base model")
    assert decision.promote is promote
    assert ("promoted" if promote else "kept inactive") in decision.reason
    assert "the base model" in decision.reason


def test_what_serves_next_is_the_best_and_between_equals_the_faster():
    large = Contender("current", 0.5, seconds=20.0)  # the 1.5B base, serving now
    small = Contender("sft", 0.5, seconds=9.0)  # the 0.5B with its new adapter
    assert serving_choice(large, [small], margin=0.0) is small  # as good, and twice as fast
    assert serving_choice(large, [small], margin=0.05) is large  # the margin asks for a gain
    better = Contender("dpo", 0.6, seconds=30.0)
    assert serving_choice(large, [small, better], margin=0.0) is better  # Pass@k comes first
    # within the margin of the best, the faster one
    assert (
        serving_choice(large, [Contender("sft", 0.62, 9.0), Contender("dpo", 0.64, 30.0)], 0.05).name == "sft"
    )
    assert serving_choice(large, [Contender("sft", 0.4, 1.0)], margin=0.0) is large
    unmeasured = Contender("grpo", 0.5)
    assert serving_choice(large, [unmeasured, small], margin=0.0) is small


def test_the_policy_trains_the_served_models_student():
    policy = RetrainingPolicy()
    assert policy.student_model("qwen2.5-coder-1.5b") == "qwen2.5-coder-0.5b"
    assert policy.student_model("/models/tiny") == "/models/tiny"  # no known student: itself
    assert RetrainingPolicy(student="qwen2.5-coder-1.5b").student_model("qwen2.5-coder-1.5b") == (
        "qwen2.5-coder-1.5b"
    )


def test_returning_to_the_base_model_says_so():
    decision = replace(decide(0.7, 0.5, 0.0, "v3"), to_base=True, seconds=(20.0, 9.0))
    assert decision.reason == (
        "returned to the base model: held-out Pass@5 (no-think) the base model 70.0% >= v3 50.0% "
        "+ margin 0.0% (20.0 s vs 9.0 s per method)"
    )
