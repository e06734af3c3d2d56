"""A server database with something to show: repositories, repairs with turns and verdicts, adapter
versions with evaluation reports and Pass@k plots, activation history and retraining jobs.

`seed_dashboard(sessions, settings, root)` writes it all through the same functions the server uses
(`server.adapters` for the registry, `training.report.plot` for the curve) and bulk inserts for the
repairs, so the benchmark can store 10,000 of them in seconds. `hostile=True` puts HTML and script
into every text a page shows, for the escaping test.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from repomend.settings import Settings
from server import adapters
from server.db.models import (
    Adapter,
    AdapterStatus,
    Feedback,
    Repair,
    Repository,
    TrainingRun,
    TrainingState,
    Turn,
)
from tests.support.adapter_folders import fake_adapter
from tests.support.repos import make_repo

HOSTILE = '<script>alert("owned")</script>'
SAFE_HOSTILE_FOLDER = "<script>alert(1)"
"""What of HOSTILE fits in a folder name (no slash)."""

BROKEN = "def mean(self):\n    return sum(self.xs) / (len(self.xs) - 1)"
FIXED = "def mean(self):\n    return sum(self.xs) / len(self.xs)"
PAIRS = [
    (BROKEN, FIXED),
    (
        "def clamp(x, low, high):\n    return max(low, min(x, low))",
        "def clamp(x, low, high):\n    return max(low, min(x, high))",
    ),
    ("def positive(x):\n    return x >= 0", "def positive(x):\n    return x > 0"),
    ("def first(xs):\n    return xs[1]", "def first(xs):\n    return xs[0]"),
    (
        "def total(xs):\n    return sum(xs)",
        "def total(xs):\n    if xs is None:\n        return 0\n    return sum(xs)",
    ),
]


def method_diff(original: str, fixed: str) -> str:
    """The unified diff a repair of `original` into `fixed` stores."""
    lines = difflib.unified_diff(
        original.splitlines(keepends=True),
        (fixed + "\n").splitlines(keepends=True),
        "a/pkg/stats.py",
        "b/pkg/stats.py",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


STATUS_CYCLE = [
    "fixed",
    "fixed",
    "unfixed",
    "fixed",
    "already_passing",
    "fixed",
    "failed",
    "fixed",
    "unfixed",
    "cancelled",
]


@dataclass
class Seeded:
    repositories: list[str]
    repair_ids: list[int] = field(default_factory=list)
    adapters: dict[str, list[str]] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)


def eval_report(models: list[str], turns: int = 5, hostile: bool = False, methods: int = 12) -> dict:
    """An `eval_report.json` as `training.evaluate` writes it (the fields the pages read)."""
    results = {}
    for number, model in enumerate(models):
        base = 0.2 + 0.15 * number
        cells = {}
        for mode, lift in (("no-think", 0.0), ("think", 0.05)):
            pass_at = {str(k): round(min(1.0, base + lift + 0.05 * (k - 1)), 4) for k in range(1, turns + 1)}
            cells[mode] = {
                "n": methods,
                "fixed": round(pass_at[str(turns)] * methods),
                "pass_at": pass_at,
                "exact_match": 0.1,
                "codebleu": {"codebleu": 0.61},
                "failures": {(HOSTILE if hostile else "tests_failed"): 3, "no_code_block": 1},
                "seconds": 12.5,
            }
        results[model] = cells
    return {
        "format": 1,
        "created_at": "2026-11-24T10:00:00+00:00",
        "extraction": {"version": "e1", "name": "stats", "repository": "/repo", "commit": None},
        "config": {"turns": turns, "modes": ["no-think", "think"], "seed": 0},
        "models": {m: {"adapter": (f"/jobs/1/adapters/{m}" if m != "base" else None)} for m in models},
        "benchmark": {"counts": {"methods": methods}, "seed": 0},
        "results": results,
        "seconds": 25.0,
    }


def adapter_folder(root: Path, name: str, models: list[str], hostile: bool, plot: bool) -> Path:
    from training.evaluate import EvalReport
    from training.report import PLOT_FILE
    from training.report import plot as draw

    models = [f"{m}{HOSTILE}" if hostile and m not in ("base", "active") else m for m in models]
    report = eval_report(models, hostile=hostile)
    folder = fake_adapter(
        root / name,
        base_model=(f"base-model{HOSTILE}" if hostile else "base-model"),
        training={"r": 32, "alpha": 64, "note": HOSTILE if hostile else "lora"},
        dataset={
            "path": f"datasets/{HOSTILE if hostile else 'stats'}",
            "version": "3",
            "hash": "sha256:ab12",
        },
    )
    (folder / "eval_report.json").write_text(json.dumps(report))
    if plot:
        draw(EvalReport(report), folder / PLOT_FILE)
    return folder


def add_repository(session: Session, root: Path, name: str, hostile: bool = False) -> Repository:
    folder = make_repo(root / (f"{name}-{SAFE_HOSTILE_FOLDER}" if hostile else name))
    repository = Repository(
        name=name, path=str(folder), python=sys.executable, test_command=f"{sys.executable} -m pytest"
    )
    session.add(repository)
    session.commit()
    return repository


def bulk_repairs(
    session: Session,
    repository: Repository,
    adapter_ids: list[int | None],
    count: int,
    *,
    days: int = 30,
    hostile: bool = False,
    now: datetime | None = None,
) -> list[int]:
    """`count` finished repairs spread evenly over the last `days`, each with its turns (and a user
    verdict on most fixed ones), in three bulk inserts."""
    now = now or datetime.now(UTC)
    first_id = (session.scalar(select(func.max(Repair.id))) or 0) + 1
    start = now - timedelta(days=days)
    step = timedelta(days=days) / max(count, 1)
    text = HOSTILE if hostile else ""
    repairs, turns, feedback = [], [], []
    for n in range(count):
        repair_id = first_id + n
        status = STATUS_CYCLE[n % len(STATUS_CYCLE)]
        original, fixed = PAIRS[n % len(PAIRS)]
        created = start + step * n
        turn_count = 1 + n % 3 if status in ("fixed", "unfixed") else (1 if status != "failed" else 0)
        tests = [f"tests/test_stats.py::test_mean{text}", "tests/test_stats.py::test_mean_single"]
        repairs.append(
            {
                "id": repair_id,
                "repository_id": repository.id,
                "adapter_id": adapter_ids[n % len(adapter_ids)],
                "model": f"base-model{text}",
                "mode": "no-think" if n % 4 else "think",
                "max_turns": 5,
                "samples_per_turn": 1,
                "status": status,
                "file_path": f"pkg/stats{text}.py",
                "qualname": f"Stats.mean{text}",
                "tests": tests,
                "new_method": fixed if status == "fixed" else None,
                "original_method": original,
                "messages": [{"role": "user", "content": f"Generate code for the method `mean`{text}"}],
                "diff": (method_diff(original, fixed) + (f"+    # {text}\n" if hostile else ""))
                if status == "fixed"
                else None,
                "error_code": "sandbox_error" if status == "failed" else None,
                "error_message": f"the sandbox failed{text}" if status == "failed" else None,
                "created_at": created,
                "started_at": created,
                "finished_at": created + timedelta(seconds=20),
                "seconds": 20.0 + n % 7,
            }
        )
        for turn in range(1, turn_count + 1):
            passed = status in ("fixed", "already_passing") and turn == turn_count
            outcomes = ["passed", "passed"] if passed else ["failed", "passed"]
            turns.append(
                {
                    "repair_id": repair_id,
                    "turn": turn,
                    "sample": 0,
                    "chosen": True,
                    "reply": f"```python\n{fixed if passed else original}\n```{text}",
                    "reasoning_chars": 0,
                    "budget_forced": False,
                    "candidate": (fixed if passed else original) + (f"  # {text}" if hostile else ""),
                    "rejection": None,
                    "passed": passed,
                    "results": {
                        "tests": [
                            {"nodeid": t, "outcome": o, "duration": 0.01, "message": text or None}
                            for t, o in zip(tests, outcomes, strict=True)
                        ]
                    },
                    "feedback": None if passed else f"FAILED test_mean: assert 3.3 == 2.5{text}",
                    "generation_seconds": 2.0,
                    "test_seconds": 0.4,
                    "prompt_tokens": 600,
                    "completion_tokens": 48 + turn,
                    "created_at": created,
                }
            )
        if status == "fixed" and n % 5 != 4:
            feedback.append(
                {
                    "repair_id": repair_id,
                    "verdict": "rejected" if n % 3 == 0 else "accepted",
                    "reason": f"edited back{text}" if n % 3 == 0 else None,
                    "final_text": fixed + (f"  # {text}" if hostile else ""),
                    "created_at": created,
                    "updated_at": created,
                }
            )
    for table, rows in ((Repair, repairs), (Turn, turns), (Feedback, feedback)):
        for chunk in range(0, len(rows), 2000):
            session.execute(insert(table), rows[chunk : chunk + 2000])
    session.commit()
    return [row["id"] for row in repairs]


def add_job(
    session: Session,
    repository: Repository,
    state: TrainingState,
    *,
    adapter: Adapter | None = None,
    pid: int | None = None,
    hostile: bool = False,
) -> TrainingRun:
    text = HOSTILE if hostile else ""
    now = datetime.now(UTC)
    finished = state in (TrainingState.SUCCEEDED, TrainingState.FAILED, TrainingState.CANCELLED)
    steps = {}
    if state is TrainingState.SUCCEEDED:
        steps = {
            "extract": {"seconds": 3.2, "methods": 40, "note": text},
            "generate": {"seconds": 41.0, "trajectories": 31},
            "dataset": {"seconds": 0.4, "rows": 52, "accepted_fixes": 7},
            "sft": {"seconds": 120.5, "train_loss": 0.41},
            "evaluate": {"seconds": 60.1, "sft_pass@5": 0.58},
            "gate": {"seconds": 0.1, "promoted": True},
        }
    elif state is TrainingState.RUNNING:
        steps = {
            "extract": {"seconds": 3.0, "methods": 40},
            "generate": {"seconds": 40.0},
            "dataset": {"seconds": 0.3},
        }
    run = TrainingRun(
        repository_id=repository.id,
        adapter_id=adapter.id if adapter else None,
        state=state,
        step={TrainingState.SUCCEEDED: "gate", TrainingState.RUNNING: "sft"}.get(state, "generate"),
        progress={TrainingState.SUCCEEDED: 1.0, TrainingState.RUNNING: 0.55}.get(state, 0.2),
        log="".join(f"10:00:{n:02d} step line {n}{text}\n" for n in range(30)),
        reason=(f"the gate promoted it{text}" if state is TrainingState.SUCCEEDED else None)
        if finished
        else None,
        trigger="manual",
        config={"teachers": ["mutation"], "epochs": 3, "dpo": False, "grpo": False, "note": text},
        pid=pid,
        steps=steps,
        created_at=now - timedelta(hours=2),
        started_at=now - timedelta(hours=2) if state is not TrainingState.QUEUED else None,
        finished_at=now - timedelta(hours=1) if finished else None,
    )
    if state is TrainingState.FAILED:
        run.reason = f"the worker died during generate{text}"
    session.add(run)
    session.commit()
    return run


def seed_dashboard(
    sessions: sessionmaker[Session],
    settings: Settings,
    root: Path,
    *,
    repairs: int = 60,
    days: int = 20,
    hostile: bool = False,
    running_job_pid: int | None = None,
) -> Seeded:
    """Two repositories; `stats` with adapters v1 (rejected by the gate) and v2 (promoted, active),
    v1's activation rolled into the history, jobs in several states; `geo` with only repairs."""
    root.mkdir(parents=True, exist_ok=True)
    seeded = Seeded(repositories=["stats", "geo"])
    with sessions() as session:
        stats = add_repository(session, root, "stats", hostile)
        geo = add_repository(session, root, "geo", hostile)
        v1 = adapters.register_adapter(
            session,
            settings,
            stats,
            adapter_folder(root / "trained", "v1", ["base", "sft"], hostile, plot=False),
            force=True,
            status=AdapterStatus.REJECTED,
        )
        v2 = adapters.register_adapter(
            session,
            settings,
            stats,
            adapter_folder(root / "trained", "v2", ["active", "sft", "dpo"], hostile, plot=True),
            force=True,
            status=AdapterStatus.PROMOTED,
        )
        adapters.activate(session, stats, v1.version)
        adapters.activate(session, stats, v2.version)
        seeded.adapters["stats"] = [v1.label, v2.label]
        seeded.repair_ids += bulk_repairs(
            session, stats, [None, v1.id, v2.id], repairs, days=days, hostile=hostile
        )
        seeded.repair_ids += bulk_repairs(
            session, geo, [None], max(repairs // 3, 1), days=days, hostile=hostile
        )
        seeded.jobs["succeeded"] = add_job(
            session, stats, TrainingState.SUCCEEDED, adapter=v2, hostile=hostile
        ).id
        seeded.jobs["failed"] = add_job(session, geo, TrainingState.FAILED, hostile=hostile).id
        if running_job_pid is not None:
            seeded.jobs["running"] = add_job(
                session, stats, TrainingState.RUNNING, pid=running_job_pid, hostile=hostile
            ).id
        else:
            seeded.jobs["queued"] = add_job(session, stats, TrainingState.QUEUED, hostile=hostile).id
    return seeded
