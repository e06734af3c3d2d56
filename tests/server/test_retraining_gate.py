"""The gate's decision carried out: what measured best serves next, be it the new adapter of the
student base, the served base model, or what serves now."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from server import adapters
from server.db import AdapterStatus, Repository, make_engine, session_factory
from server.retraining import runs
from server.retraining.context import JobContext, RepositoryInfo
from server.retraining.gate import Contender
from server.retraining.pipeline import _gate
from server.retraining.policy import RetrainingPolicy
from server.retraining.step_outputs import Candidate, StepOutputs
from tests.support.adapter_folders import fake_adapter


@pytest.fixture
def in_process(server_settings):
    """These folders hold no real weights: registered for the in-process engine (llama.cpp's
    conversion is tested with real adapters)."""
    return server_settings.model_copy(update={"engine": "transformers"})


@pytest.fixture
def job(in_process, tmp_path):
    sessions = session_factory(make_engine(in_process.database_url))
    with sessions() as session:
        repository = Repository(name="shapes", path=str(tmp_path), python=sys.executable)
        session.add(repository)
        session.commit()
        run = runs.create_run(session, repository, "manual", {})
        info = RepositoryInfo(repository.id, repository.name, Path(repository.path), repository.python)
        run_id = run.id
    return JobContext(run_id, in_process, sessions, RetrainingPolicy(), info, tmp_path / "job")


def _candidate(tmp_path: Path, pass_at_k: float, seconds: float) -> Candidate:
    folder = fake_adapter(tmp_path / "sft", base_model="qwen2.5-coder-0.5b")
    return Candidate("sft", folder, pass_at_k=pass_at_k, seconds=seconds)


def test_the_adapted_student_serves_where_it_is_as_good_and_faster(job, tmp_path):
    state = StepOutputs(baseline_pass_at_k=0.5, baseline_seconds=20.0)
    state.candidates = [_candidate(tmp_path, 0.5, 9.0)]
    summary = _gate(job, state)
    assert summary["serves"] == "sft" and summary["promoted"]
    assert state.decision.reason == (
        "promoted: held-out Pass@5 (no-think) 50.0% >= the base model 50.0% + margin 0.0% "
        "(9.0 s vs 20.0 s per method)"
    )
    with job.sessions() as session:
        active = adapters.active_adapter(session, "shapes")
        assert active.base_model == "qwen2.5-coder-0.5b" and active.status is AdapterStatus.PROMOTED


def test_the_base_model_returns_when_it_beats_the_active_adapter(job, tmp_path):
    with job.sessions() as session:
        old = adapters.register_adapter(
            session, job.settings, "shapes", fake_adapter(tmp_path / "old", base_model="qwen2.5-coder-1.5b")
        )
        adapters.activate(session, "shapes", old.version)
    state = StepOutputs(baseline=Path(old.path), baseline_pass_at_k=0.3, baseline_seconds=9.0)
    state.base = Contender("base", 0.5, 20.0)
    state.candidates = [_candidate(tmp_path, 0.4, 9.0)]
    summary = _gate(job, state)
    assert summary["serves"] == "base" and not summary["promoted"]
    assert state.decision.reason.startswith(
        "returned to the base model: held-out Pass@5 (no-think) the base model 50.0% >= v1 30.0%"
    )
    with job.sessions() as session:
        assert adapters.active_adapter(session, "shapes") is None
        new = adapters.get_adapter(session, "shapes", 2)
        assert new.status is AdapterStatus.REJECTED and not new.active


def test_nothing_changes_when_no_challenger_reaches_what_serves(job, tmp_path):
    state = StepOutputs(baseline_pass_at_k=0.6, baseline_seconds=20.0)
    state.candidates = [_candidate(tmp_path, 0.5, 9.0)]
    summary = _gate(job, state)
    assert summary["serves"] == "unchanged"
    assert state.decision.reason.startswith(
        "kept inactive: held-out Pass@5 (no-think) 50.0% < the base model 60.0%"
    )
    with job.sessions() as session:
        assert adapters.active_adapter(session, "shapes") is None


def test_a_job_whose_student_is_not_here_fails_at_once(job):
    from repomend.backends.base import BackendError
    from server.retraining import training_steps

    job.policy = RetrainingPolicy(student="qwen2.5-coder-0.5b")  # not pulled into this data dir
    with pytest.raises(BackendError, match=r"repomend models pull qwen2\.5-coder-0\.5b"):
        training_steps.extract(job, StepOutputs())
