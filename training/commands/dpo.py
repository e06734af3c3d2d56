"""`repomend train dpo PAIRS --adapter SFT`: preference learning (DPO) that continues an SFT adapter."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from training.commands.options import add_config_flags, config_values
from training.preference_config import PreferenceConfig

FLAGS = ("beta", "learning_rate", "epochs", "max_steps", "effective_batch_size", "max_length", "seed")
"""The `PreferenceConfig` fields this command takes as flags (`--lr`, `--batch` by their metadata)."""


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "dpo", help="continue an SFT adapter with DPO on preference pairs (TRL DPOTrainer)"
    )
    parser.add_argument(
        "pairs", type=Path, metavar="PAIRS", help="JSON lines of prompt / chosen / rejected (TRL's format)"
    )
    parser.add_argument("--adapter", type=Path, required=True, help="the SFT adapter folder to start from")
    parser.add_argument("--out", type=Path, help="adapter folder to create (default: beside the SFT adapter)")
    parser.add_argument("--model", help="base model folder or cached id (default: the embedded SmolLM2-135M)")
    add_config_flags(parser, PreferenceConfig, FLAGS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.errors import UserError
    from repomend.settings import Settings
    from training.adapter_manifest import read_manifest
    from training.errors import PreferenceError, TrainingCancelled
    from training.preference_trainer import default_out, train_dpo

    settings = Settings()
    if args.model:
        settings = settings.model_copy(update={"model": args.model})
    if not args.pairs.is_file():
        raise UserError(f"no such pairs file: {args.pairs}")
    try:
        batch = args.effective_batch_size
        config = PreferenceConfig(
            **config_values(args, FLAGS), per_device_batch_size=2 if batch % 2 == 0 else 1
        )
        out = args.out or default_out(args.adapter, args.pairs, config)
        folder = train_dpo(
            args.pairs, args.adapter, out, settings, config, on_status=lambda text: console.print(text)
        )
    except PreferenceError as err:
        raise UserError(str(err)) from err
    except TrainingCancelled as err:
        console.print(str(err))
        return 1
    metrics = read_manifest(folder).metrics
    accuracy = metrics.get("reward_accuracy")
    console.print(
        f"{metrics['steps']} steps on {metrics['pairs']} pairs in {metrics['seconds']:.0f} s: "
        f"loss {metrics['train_loss']:.4f}"
        + (f", chosen preferred in {accuracy:.0%} of the last batch" if accuracy is not None else "")
    )
    console.print(f"adapter: {folder}")
    return 0
