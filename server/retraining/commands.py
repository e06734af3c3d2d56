"""`repomend retrain REPO`: one retraining job in the foreground, with the server's rules.

The job is a row like any other (one live job per repository, states, log), so a server sees it,
and `--jobs` lists what ran.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def add_commands(commands: argparse._SubParsersAction) -> None:
    retrain = commands.add_parser(
        "retrain", help="extract, generate, train, evaluate and gate a new adapter for a repository"
    )
    retrain.add_argument("repository", help="registered repository name")
    retrain.add_argument("--jobs", action="store_true", help="list this repository's jobs and stop")
    retrain.add_argument("--teacher", action="append", help="teacher spec (default: mutation)")
    retrain.add_argument("--epochs", type=float)
    retrain.add_argument("--max-steps", type=int, help="cap on optimizer steps")
    retrain.add_argument("--learning-rate", type=float, help="SFT peak learning rate (default 1e-4)")
    retrain.add_argument("--warmup-steps", type=int, help="SFT warm-up steps (default 10)")
    retrain.add_argument("--max-length", type=int, help="longest SFT row in tokens")
    retrain.add_argument("--max-methods", type=int, help="cap on training methods")
    retrain.add_argument("--max-heldout", type=int, help="cap on held-out methods evaluated")
    retrain.add_argument("--margin", type=float, help="Pass@5 gain the gate asks for (0..1)")
    retrain.add_argument("--dpo", action="store_true", default=None, help="add the preference step")
    retrain.add_argument("--grpo", action="store_true", default=None, help="add the RL step")
    retrain.set_defaults(handler=cmd_retrain)


OVERRIDES = {
    "teacher": "teachers",
    "epochs": "epochs",
    "max_steps": "max_steps",
    "learning_rate": "learning_rate",
    "warmup_steps": "warmup_steps",
    "max_length": "max_length",
    "max_methods": "max_methods",
    "max_heldout": "max_heldout",
    "margin": "margin",
    "dpo": "dpo",
    "grpo": "grpo",
}


def cmd_retrain(args: argparse.Namespace, console: Console) -> int:
    from repomend.settings import Settings
    from server.commands import open_database
    from server.db.models import TrainingState
    from server.retraining import runs
    from server.retraining.policy import policy_of
    from server.retraining.views import run_out
    from server.retraining.worker import work
    from server.service import repository_by_name

    settings = Settings()
    overrides = {
        key: getattr(args, flag) for flag, key in OVERRIDES.items() if getattr(args, flag) is not None
    }
    with open_database(settings) as sessions, sessions() as session:
        repository = repository_by_name(session, args.repository)
        if args.jobs:
            for run in sorted(repository.training_runs, key=lambda r: r.id):
                out = run_out(run)
                console.out(
                    f"{out.id:<5} {out.state:<10} {out.trigger:<9} {out.created_at:%Y-%m-%d %H:%M}  "
                    f"{out.adapter or '-':<5} {out.reason or out.step or ''}",
                    highlight=False,
                )
            return 0
        policy = policy_of(repository.retraining, overrides)
        run = runs.create_run(session, repository, "manual", policy.model_dump())
        run_id = run.id
    console.print(f"retraining job {run_id} for `{args.repository}` (Ctrl-C cancels)")
    state = work(run_id, settings)
    return 0 if state is TrainingState.SUCCEEDED else 1
