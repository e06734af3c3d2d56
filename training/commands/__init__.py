"""Sub-commands this package adds to the `repomend` CLI (see repomend.cli.COMMAND_MODULES).

`repomend train STEP ...`: each step is a module here with `add(train_commands)` listed in
TRAIN_STEP_MODULES; commands of their own (`repomend eval`) are modules with `add(commands)`
listed in TOP_LEVEL_MODULES. `add` creates the parser and sets `handler=fn(args, console) -> int`;
the trainers' flags are made from their config dataclasses (`options.add_config_flags`).
Importing a module must stay cheap (heavy imports go inside the handler).
"""

from __future__ import annotations

import argparse
import importlib

TRAIN_STEP_MODULES: tuple[str, ...] = (
    "training.commands.extract",
    "training.commands.generate",
    "training.commands.dataset",
    "training.commands.sft",
    "training.commands.pairs",
    "training.commands.dpo",
    "training.commands.grpo",
)
TOP_LEVEL_MODULES: tuple[str, ...] = ("training.commands.eval",)


def add_commands(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="turn a repository's tested methods into fine-tuning data")
    train_commands = train.add_subparsers(dest="train_command", required=True, metavar="STEP")
    for module in TRAIN_STEP_MODULES:
        importlib.import_module(module).add(train_commands)
    for module in TOP_LEVEL_MODULES:
        importlib.import_module(module).add(commands)
