"""One whole retraining job, as the server runs it, on a real package with the default model.

The package checkout (pinned sdist + its own venv) comes from `train_real_packages.checkout`. The
job is queued in a fresh database and worked in this process (`server.retraining.worker.work`),
exactly what `repomend retrain` does; the figures are read back from the job's row: seconds per
step, held-out Pass@k before (base model) and after (the new adapter), and the gate's verdict.

Run: `.venv/bin/python benchmarks/retrain_job.py [--package isodate] [--max-steps 6]
[--max-methods 20] [--max-heldout 4] [--turns 3] [--work /tmp/repomend-bench]`; the defaults
are a CPU-sized job (about 30 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from repomend.settings import SandboxSettings, Settings


def _checkout(name: str, work: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "train_real_packages", Path(__file__).with_name("train_real_packages.py")
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.checkout(name, work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="isodate")
    parser.add_argument("--work", type=Path, default=Path("/tmp/repomend-bench"))
    parser.add_argument("--max-steps", type=int, default=6, help="optimiser steps (CPU budget)")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--learning-rate", type=float, default=3e-4, help="policy default 1e-4: long runs")
    parser.add_argument("--warmup-steps", type=int, default=2, help="the policy's 10 is for long runs")
    parser.add_argument("--max-length", type=int, default=2048, help="longest SFT row (tokens)")
    parser.add_argument("--max-methods", type=int, default=20)
    parser.add_argument("--max-heldout", type=int, default=4)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--margin", type=float, default=0.0)
    args = parser.parse_args()

    from server.db import Repository, TrainingRun, make_engine, session_factory, upgrade
    from server.retraining import runs
    from server.retraining.worker import work

    repo = _checkout(args.package, args.work)
    data = args.work / f"retrain-{args.package}-{int(time.time())}"
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite:///{data / 'repomend.db'}",
        sandbox=SandboxSettings(isolation="strict", wall_seconds=120),
        _env_file=None,
    )
    upgrade(settings.database_url)
    sessions = session_factory(make_engine(settings.database_url))
    policy = {
        "epochs": args.epochs,
        "max_steps": args.max_steps,
        "learning_rate": args.learning_rate,
        "warmup_steps": args.warmup_steps,
        "max_length": args.max_length,
        "max_methods": args.max_methods,
        "max_heldout": args.max_heldout,
        "turns": args.turns,
        "margin": args.margin,
    }
    with sessions() as session:
        repository = Repository(
            name=args.package, path=str(repo), python=str(repo / ".venv" / "bin" / "python")
        )
        session.add(repository)
        session.commit()
        run_id = runs.create_run(session, repository, "manual", policy).id
    started = time.perf_counter()
    state = work(run_id, settings)
    wall = time.perf_counter() - started
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        print(
            json.dumps(
                {"state": state.value, "reason": run.reason, "steps": run.steps}, indent=2, default=str
            )
        )
        print(f"\n{args.package}: job {state.value} in {wall:.0f} s")
        for step, summary in (run.steps or {}).items():
            print(f"  {step:<9} {summary['seconds']:>8.1f} s")
        print(f"  {run.reason}")
    return 0 if state.value == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
