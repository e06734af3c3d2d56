"""`repomend train pairs TRAJECTORIES... --out PAIRS`: preference pairs from trajectories, for DPO."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console


def add(train_commands: argparse._SubParsersAction) -> None:
    parser = train_commands.add_parser(
        "pairs", help="preference pairs (passing answer over a rejected one) from trajectory folders"
    )
    parser.add_argument(
        "trajectories", type=Path, nargs="+", metavar="TRAJECTORIES", help="`train generate` folders"
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON lines file to write")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from repomend.errors import UserError
    from training.errors import PairsError
    from training.pairs import write_pairs

    try:
        count = write_pairs(args.trajectories, args.out)
    except PairsError as err:
        raise UserError(str(err)) from err
    console.print(f"{count} preference pairs written to {args.out}")
    return 0
