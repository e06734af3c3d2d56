"""`repomend train pairs TRAJECTORIES... --out PAIRS`: preference pairs from trajectories, for DPO."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from training.pairs import PAIR_PROMPTS


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "pairs", help="preference pairs (passing answer over a rejected one) from trajectory folders"
    )
    parser.add_argument(
        "trajectories", type=Path, nargs="+", metavar="TRAJECTORIES", help="`train generate` folders"
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON lines file to write")
    parser.add_argument(
        "--at",
        choices=PAIR_PROMPTS,
        default="first",
        help="where a pair's prompt ends: the first turn (default), or the turn that passed, after the "
        "rejected answers (the fix over repeating one: the state a repair from a broken method is in)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.errors import UserError
    from training.errors import PairsError
    from training.pairs import write_pairs

    try:
        count = write_pairs(args.trajectories, args.out, args.at)
    except PairsError as err:
        raise UserError(str(err)) from err
    console.print(f"{count} preference pairs written to {args.out}")
    return 0
