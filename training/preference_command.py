"""`repomend train pairs TRAJECTORIES... --out PAIRS` and `repomend train dpo PAIRS --adapter SFT`:
preference pairs from trajectories, and preference learning after SFT."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console


def add(train_commands: argparse._SubParsersAction) -> None:
    pairs = train_commands.add_parser(
        "pairs", help="preference pairs (passing answer over a rejected one) from trajectory folders"
    )
    pairs.add_argument(
        "trajectories", type=Path, nargs="+", metavar="TRAJECTORIES", help="`train generate` folders"
    )
    pairs.add_argument("--out", type=Path, required=True, help="JSON lines file to write")
    pairs.set_defaults(handler=run_pairs)

    parser = train_commands.add_parser(
        "dpo", help="continue an SFT adapter with DPO on preference pairs (TRL DPOTrainer)"
    )
    parser.add_argument(
        "pairs", type=Path, metavar="PAIRS", help="JSON lines of prompt / chosen / rejected (TRL's format)"
    )
    parser.add_argument("--adapter", type=Path, required=True, help="the SFT adapter folder to start from")
    parser.add_argument("--out", type=Path, help="adapter folder to create (default: beside the SFT adapter)")
    parser.add_argument("--beta", type=float, default=0.1, help="pull towards the SFT adapter (default 0.1)")
    parser.add_argument("--lr", type=float, default=5e-6, help="learning rate (default 5e-6)")
    parser.add_argument("--epochs", type=float, default=2.0, help="passes over the pairs (default 2)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    parser.add_argument("--batch", type=int, default=8, help="pairs per optimiser step (default 8)")
    parser.add_argument(
        "--max-length", type=int, default=2048, help="longer pairs are left out (default 2048 tokens)"
    )
    parser.add_argument("--model", help="base model folder or cached id (default: the embedded SmolLM2-135M)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data order (default 0)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.cli import UserError
    from repomend.settings import Settings
    from training.adapter_manifest import read_manifest
    from training.preference import PreferenceConfig, PreferenceError, default_out, train_dpo
    from training.sft import TrainingCancelled

    settings = Settings()
    if args.model:
        settings = settings.model_copy(update={"model": args.model})
    if not args.pairs.is_file():
        raise UserError(f"no such pairs file: {args.pairs}")
    try:
        config = PreferenceConfig(
            beta=args.beta,
            learning_rate=args.lr,
            epochs=args.epochs,
            max_steps=args.max_steps,
            effective_batch_size=args.batch,
            per_device_batch_size=2 if args.batch % 2 == 0 else 1,
            max_length=args.max_length,
            seed=args.seed,
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


def run_pairs(args: argparse.Namespace, console: Console) -> int:
    from repomend.cli import UserError
    from training.pairs import PairsError, write_pairs

    try:
        count = write_pairs(args.trajectories, args.out)
    except PairsError as err:
        raise UserError(str(err)) from err
    console.print(f"{count} preference pairs written to {args.out}")
    return 0
