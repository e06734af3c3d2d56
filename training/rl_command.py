"""`repomend train grpo EXTRACTION`: reinforcement learning with the repository's tests as reward."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from training.command_options import add_sandbox_options, sandbox_settings


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "grpo", help="GRPO (TRL GRPOTrainer) on the extracted methods, rewarded by their tests in the sandbox"
    )
    parser.add_argument("extraction", type=Path, metavar="EXTRACTION", help="a `train extract` folder")
    parser.add_argument("--repo", type=Path, help="the repository (default: the one that was extracted)")
    parser.add_argument("--adapter", type=Path, help="adapter to continue (SFT / DPO); default: a fresh LoRA")
    parser.add_argument("--out", type=Path, help="adapter folder to create (default: under the data dir)")
    parser.add_argument(
        "--setting",
        choices=("generate", "repair", "both"),
        default="both",
        help="prompts: write the removed body, fix a rejected mutant, or both (default)",
    )
    parser.add_argument("--mode", choices=("no-think", "think"), help="default: REPOMEND_MODE")
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps (default 100)")
    parser.add_argument("--generations", type=int, default=4, help="answers per prompt (default 4)")
    parser.add_argument("--prompts-per-step", type=int, default=2, help="prompts per step (default 2)")
    parser.add_argument(
        "--max-completion-length", type=int, default=256, help="tokens per answer (default 256)"
    )
    parser.add_argument("--lr", type=float, default=1e-5, help="learning rate (default 1e-5)")
    parser.add_argument("--beta", type=float, default=0.0, help="KL weight against the start (default 0)")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    parser.add_argument("--max-methods", type=int, help="use a sample of this many methods")
    parser.add_argument("--workers", type=int, default=2, help="sandbox runs at the same time (default 2)")
    parser.add_argument("--model", help="base model folder or cached id (default: the embedded SmolLM2-135M)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling and data order (default 0)")
    add_sandbox_options(parser, python_default="the extraction's, else the repository's .venv")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.cli import UserError
    from repomend.targets import find_python
    from training.adapter_manifest import read_manifest
    from training.records import MANIFEST_FILE
    from training.records import read_manifest as read_extraction
    from training.rewards import RewardConfig
    from training.rl import RLConfig, RLError, default_out, train_grpo
    from training.sft import TrainingCancelled

    if not (args.extraction / MANIFEST_FILE).is_file():
        raise UserError(f"{args.extraction} is not a `repomend train extract` folder")
    extraction = read_extraction(args.extraction)
    repo = (args.repo or Path(extraction.repository)).resolve()
    if not repo.is_dir():
        raise UserError(f"no such repository folder: {repo}")
    python = Path(args.python) if args.python else _default_python(extraction.python, repo, find_python)
    if not python.exists():
        raise UserError(f"no such interpreter: {python}")
    settings = sandbox_settings(args)
    if args.model:
        settings = settings.model_copy(update={"model": args.model})
    try:
        config = RLConfig(
            setting=args.setting,
            mode=args.mode,
            max_steps=args.steps,
            num_generations=args.generations,
            prompts_per_step=args.prompts_per_step,
            max_completion_length=args.max_completion_length,
            learning_rate=args.lr,
            beta=args.beta,
            temperature=args.temperature,
            max_methods=args.max_methods,
            seed=args.seed,
            reward=RewardConfig(workers=args.workers),
        )
        out = args.out or default_out(settings, args.extraction, args.adapter, config)
        folder = train_grpo(
            args.extraction,
            repo,
            python,
            args.adapter,
            out,
            settings,
            config,
            on_status=lambda text: console.print(text),
        )
    except (RLError, ValueError) as err:
        raise UserError(str(err)) from err
    except TrainingCancelled as err:
        console.print(str(err))
        return 1
    metrics = read_manifest(folder).metrics
    console.print(
        f"{metrics['steps']} steps in {metrics['seconds']:.0f} s: "
        f"mean reward {metrics['reward_mean_start']} -> {metrics['reward_mean_end']}, "
        f"pass rate {metrics['pass_rate_start']} -> {metrics['pass_rate_end']}"
    )
    console.print(f"adapter: {folder}")
    return 0


def _default_python(recorded: str, repo: Path, find_python) -> Path:
    """The interpreter the extraction ran the tests with, when it still exists."""
    path = Path(recorded) if recorded else None
    return path if path is not None and path.exists() else find_python(repo)
