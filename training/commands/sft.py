"""`repomend train sft DATASET`: fine-tune a LoRA adapter on a dataset folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from training.commands.options import add_config_flags, config_values
from training.sft_config import SFTConfig

FLAGS = (
    "epochs", "max_steps", "max_seconds", "warmup_steps", "max_length", "upper_layers", "validation_rows",
    "changed_token_weight", "seed",
)  # fmt: skip
"""The `SFTConfig` fields this command takes as flags."""


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "sft", help="fine-tune a LoRA adapter on a `train dataset` folder (TRL SFTTrainer + PEFT)"
    )
    parser.add_argument(
        "dataset", type=Path, metavar="DATASET", help="folder with train.jsonl / validation.jsonl"
    )
    parser.add_argument(
        "--out", type=Path, help="adapter folder to create (default: <data dir>/training/<repo>/adapters/...)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its last checkpoint"
    )
    parser.add_argument("--model", help="base model folder or cached id (default: the embedded SmolLM2-135M)")
    add_config_flags(parser, SFTConfig, FLAGS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.errors import UserError
    from repomend.settings import Settings
    from training.adapter_manifest import read_manifest
    from training.errors import DatasetFolderError, SFTError, TrainingCancelled
    from training.sft_trainer import train_adapter

    settings = Settings()
    if args.model:
        settings = settings.model_copy(update={"model": args.model})
    try:
        folder = train_adapter(
            args.dataset,
            args.out,
            settings=settings,
            config=SFTConfig(**config_values(args, FLAGS)),
            resume=args.resume,
            progress=True,
            on_status=lambda text: console.print(text),
        )
    except (SFTError, DatasetFolderError) as err:
        raise UserError(str(err)) from err
    except TrainingCancelled as err:
        console.print(str(err))
        return 1
    metrics = read_manifest(folder).metrics
    eval_loss = f", eval loss {metrics['eval_loss']:.4f}" if "eval_loss" in metrics else ""
    console.print(
        f"{metrics['steps']} steps, {metrics['epochs']:g} epochs in {metrics['seconds']:.0f} s "
        f"({metrics['tokens_per_second'] or 0:.0f} tokens/s): "
        f"train loss {metrics['train_loss']:.4f}{eval_loss}"
    )
    console.print(f"adapter: {folder}")
    return 0
