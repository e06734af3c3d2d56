"""`repomend train sft DATASET`: fine-tune a LoRA adapter on a dataset folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console


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
    parser.add_argument("--epochs", type=float, default=3.0, help="passes over the training rows (default 3)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (short CPU runs)")
    parser.add_argument(
        "--max-length", type=int, default=8192, help="longer conversations are left out (default 8192 tokens)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its last checkpoint"
    )
    parser.add_argument("--model", help="base model folder or cached id (default: the embedded SmolLM2-135M)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the adapter's initialisation and data order"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.cli import UserError
    from repomend.settings import Settings
    from training.adapter_manifest import read_manifest
    from training.lora_config import TrainConfig, TrainConfigError
    from training.sft import SFTError, TrainingCancelled, train_adapter
    from training.sft_data import DatasetFolderError

    settings = Settings()
    if args.model:
        settings = settings.model_copy(update={"model": args.model})
    try:
        config = TrainConfig(
            epochs=args.epochs, max_steps=args.max_steps, max_length=args.max_length, seed=args.seed
        )
        folder = train_adapter(
            args.dataset,
            args.out,
            settings=settings,
            config=config,
            resume=args.resume,
            progress=True,
            on_status=lambda text: console.print(text),
        )
    except (TrainConfigError, SFTError, DatasetFolderError) as err:
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
