"""`repomend train grpo EXTRACTION`: reinforcement learning with the repository's tests as reward."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from training.commands.options import add_config_flags, add_sandbox_options, config_values, sandbox_settings
from training.rewards import RewardConfig
from training.rl_config import RLConfig

FLAGS = (
    "setting",
    "mode",
    "max_steps",
    "num_generations",
    "prompts_per_step",
    "max_completion_length",
    "learning_rate",
    "beta",
    "temperature",
    "max_methods",
    "seed",
)
"""`RLConfig` fields this command takes as flags (`--steps`, `--generations`, `--lr`: their metadata)."""
REWARD_FLAGS = ("workers",)
"""The `RewardConfig` fields it takes."""


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "grpo", help="GRPO (TRL GRPOTrainer) on the extracted methods, rewarded by their tests in the sandbox"
    )
    parser.add_argument("extraction", type=Path, metavar="EXTRACTION", help="a `train extract` folder")
    parser.add_argument("--repo", type=Path, help="the repository (default: the one that was extracted)")
    parser.add_argument("--adapter", type=Path, help="adapter to continue (SFT / DPO); default: a fresh LoRA")
    parser.add_argument("--out", type=Path, help="adapter folder to create (default: under the data dir)")
    parser.add_argument("--model", help="base model folder or cached id (default: the embedded SmolLM2-135M)")
    add_config_flags(parser, RLConfig, FLAGS)
    add_config_flags(parser, RewardConfig, REWARD_FLAGS, helps={"workers": "sandbox runs at the same time"})
    add_sandbox_options(parser, python_default="the extraction's, else the repository's .venv")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.errors import UserError
    from repomend.targets import find_python
    from training.adapter_manifest import read_manifest
    from training.errors import RLError, TrainingCancelled
    from training.records import MANIFEST_FILE
    from training.records import read_manifest as read_extraction
    from training.rl_trainer import default_out, train_grpo

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
            **config_values(args, FLAGS), reward=RewardConfig(**config_values(args, REWARD_FLAGS))
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
