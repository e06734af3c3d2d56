"""A whole retraining job on a tiny random model: every step, the gate, a crash, a cancel, a restart.

The model cannot fix anything, so the base model and the new adapter tie at Pass@5 = 0: a margin
of 0 promotes the adapter, a positive margin keeps it inactive. That is the gate's rule end to end;
its arithmetic is tested on its own in test_retraining_runs.py.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from repomend.settings import SandboxSettings
from server.db import (
    Adapter,
    AdapterStatus,
    Repository,
    TrainingRun,
    TrainingState,
    make_engine,
    session_factory,
)
from server.retraining import runs
from server.retraining.launcher import RetrainLauncher
from server.retraining.worker import work
from tests.support.repos import SHAPES_SOURCE, SHAPES_TESTS, make_repo
from tests.support.tiny_models import build_model, build_tokenizer
from training.adapter_manifest import read_manifest
from training.split import split_of

STEPS = ["extract", "generate", "dataset", "sft", "evaluate", "gate"]
COVERED = ["pkg/stats.py::Box.__init__", "pkg/stats.py::Box.count", "pkg/stats.py::Box.largest",
           "pkg/stats.py::clamp", "pkg/stats.py::scale"]  # fmt: skip


def _seed_with_a_heldout_method() -> int:
    """The first seed that holds out at least one covered method and trains on the rest."""
    for seed in range(100):
        splits = [split_of(m, seed=seed, heldout_fraction=0.2, validation_fraction=0.1) for m in COVERED]
        if splits.count("heldout") == 1 and splits.count("train") >= 3:
            return seed
    raise AssertionError("no such seed")


@pytest.fixture(scope="module")
def tiny_model_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-retrain") / "tiny-chat"
    folder.mkdir()
    build_model(folder, build_tokenizer(folder))
    return folder


@pytest.fixture
def job_settings(server_settings, tiny_model_folder, tmp_path):
    return server_settings.model_copy(
        update={
            "engine": "transformers",  # the tiny tokenizer is not one llama.cpp's converter knows
            "model": str(tiny_model_folder),
            "data_dir": tmp_path / "data",
            "adapters_dir": None,
            "max_new_tokens": 24,
            "sandbox": SandboxSettings(isolation="strict", wall_seconds=30),
        }
    )


@pytest.fixture
def sessions(job_settings):
    return session_factory(make_engine(job_settings.database_url))


def _queue(sessions, tmp_path: Path, **policy) -> int:
    repo = make_repo(tmp_path / "shapes", source=SHAPES_SOURCE, tests=SHAPES_TESTS)
    config = {
        "seed": _seed_with_a_heldout_method(),
        "epochs": 1,
        "max_steps": 2,
        "max_methods": 2,
        "max_heldout": 1,
        "turns": 1,
        "teachers": ["mutation"],
        **policy,
    }
    with sessions() as session:
        repository = Repository(name="shapes", path=str(repo), python=sys.executable)
        session.add(repository)
        session.commit()
        return runs.create_run(session, repository, "manual", config).id


def _run(sessions, run_id: int) -> TrainingRun:
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        run.repository  # noqa: B018 - loaded while the session is open
        return run


def test_a_job_works_every_step_and_promotes_an_adapter_that_holds_its_ground(
    sessions, job_settings, tiny_model_folder, tmp_path
):
    local = f"local:{tiny_model_folder}"
    run_id = _queue(
        sessions, tmp_path, margin=0.0, learning_rate=5e-4, warmup_steps=1, max_length=2000,
        teachers=["mutation", local], model_teacher_methods=1,
    )  # fmt: skip
    assert work(run_id, job_settings) is TrainingState.SUCCEEDED
    run = _run(sessions, run_id)
    assert list(run.steps) == STEPS
    assert run.steps["extract"]["heldout"] == 1 and run.steps["generate"]["items"] > 0
    units = run.steps["generate"]["counts"]["units"]
    # mutation on both training methods, its mutants and the body removed; the local model on one,
    # from its body removed and a mutant
    assert (units["mutation"]["units"], units[f"local:{tiny_model_folder.name}"]["units"]) == (4, 2)
    assert run.steps["sft"]["steps"] == 2
    assert run.reason.startswith("promoted: held-out Pass@1 (no-think) 0.0% >= the base model 0.0%")
    assert run.progress == 1.0 and "step sft: done" in run.log
    with sessions() as session:
        adapter = session.get(Adapter, run.adapter_id)
        assert adapter.active and adapter.status is AdapterStatus.PROMOTED and adapter.version == 1
        assert adapter.evaluation is not None  # its report went into the registry with it
        assert (Path(adapter.path) / "adapter_model.safetensors").is_file()
        training = read_manifest(Path(adapter.path)).training  # the job's policy reached SFT
        policy = {"learning_rate": 5e-4, "warmup_steps": 1, "max_length": 2000}
        assert {key: training[key] for key in policy} == policy


@pytest.mark.slow  # two more whole jobs; the gate's rule itself is tested in test_retraining_runs.py
def test_the_gate_keeps_an_adapter_that_is_not_better_inactive(sessions, job_settings, tmp_path):
    run_id = _queue(sessions, tmp_path, margin=0.1)
    assert work(run_id, job_settings) is TrainingState.SUCCEEDED
    run = _run(sessions, run_id)
    assert run.reason.startswith(
        "kept inactive: held-out Pass@1 (no-think) 0.0% < the base model 0.0% + margin"
    )
    assert run.steps["evaluate"]["cached"] == []
    with sessions() as session:
        adapter = session.get(Adapter, run.adapter_id)
        assert adapter.status is AdapterStatus.REJECTED and not adapter.active
        assert session.query(Adapter).filter(Adapter.active).count() == 0
    # the next job measures its new adapter, and reads what serves (the base) from the first job
    with sessions() as session:
        second = runs.create_run(session, session.get(Repository, run.repository_id), "manual", run.config).id
    assert work(second, job_settings) is TrainingState.SUCCEEDED
    evaluated = _run(sessions, second).steps["evaluate"]
    assert evaluated["cached"] == ["base"] and evaluated["baseline"] == run.steps["evaluate"]["baseline"]


def _wait_for(sessions, run_id: int, predicate, timeout: float = 240.0) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _run(sessions, run_id)
        if predicate(run):
            return run
        time.sleep(0.2)
    raise AssertionError(f"job {run_id} stuck: {run.state} {run.step}\n{run.log}")


def test_a_worker_killed_during_training_fails_the_job_and_activates_nothing(
    sessions, job_settings, tmp_path
):
    run_id = _queue(sessions, tmp_path, max_steps=200, epochs=50)
    launcher = RetrainLauncher(job_settings, sessions)
    launcher.launch(run_id, "shapes")
    run = _wait_for(sessions, run_id, lambda r: r.step == "sft" or r.state not in runs.LIVE)
    assert run.state is TrainingState.RUNNING, run.log
    os.killpg(run.pid, signal.SIGKILL)
    run = _wait_for(sessions, run_id, lambda r: r.state not in runs.LIVE, timeout=30)
    assert run.state is TrainingState.FAILED
    assert run.reason == "the worker died (signal 9) during sft"
    with sessions() as session:
        assert session.query(Adapter).count() == 0
    adapters_root = job_settings.resolved_adapters_dir
    assert not adapters_root.exists() or not any(adapters_root.rglob("adapter_model.safetensors"))


def test_cancel_stops_the_worker_and_a_restart_fails_what_was_left_running(sessions, job_settings, tmp_path):
    run_id = _queue(sessions, tmp_path, max_steps=200, epochs=50)
    launcher = RetrainLauncher(job_settings, sessions)
    launcher.launch(run_id, "shapes")
    _wait_for(sessions, run_id, lambda r: r.step in ("generate", "dataset", "sft"))
    with sessions() as session:
        launcher.cancel(session, session.get(TrainingRun, run_id))
    run = _wait_for(sessions, run_id, lambda r: r.state not in runs.LIVE, timeout=60)
    assert run.state is TrainingState.CANCELLED and run.reason == "cancelled"

    with sessions() as session:  # a job a dead server left running, its worker gone
        stale = TrainingRun(repository_id=run.repository_id, state=TrainingState.RUNNING, pid=2**22 + 7)
        session.add(stale)
        session.commit()
        stale_id = stale.id
    assert RetrainLauncher(job_settings, sessions).recover() == [stale_id]
    assert _run(sessions, stale_id).reason == "interrupted: the server restarted"
