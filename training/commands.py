"""Sub-commands this package adds to the `repomend` CLI (see repomend.cli.COMMAND_MODULES).

`repomend train STEP ...`: each step is a module with `add(train_commands)` listed in
TRAIN_STEP_MODULES; commands of their own (`repomend eval`) are modules with `add(commands)`
listed in TOP_LEVEL_MODULES. `add` creates the parser and sets `handler=fn(args, console) -> int`;
importing a module must stay cheap (heavy imports go inside the handler).
"""

from __future__ import annotations

import argparse
import importlib

TRAIN_STEP_MODULES: tuple[str, ...] = (
    "training.extract_command",
    "training.generate_command",
    "training.dataset_command",
    "training.sft_command",
    "training.preference_command",
    "training.rl_command",
)
TOP_LEVEL_MODULES: tuple[str, ...] = ("training.eval_command",)


def add_commands(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="turn a repository's tested methods into fine-tuning data")
    train_commands = train.add_subparsers(dest="train_command", required=True, metavar="STEP")
    for module in TRAIN_STEP_MODULES:
        importlib.import_module(module).add(train_commands)
    for module in TOP_LEVEL_MODULES:
        importlib.import_module(module).add(commands)
