"""Sub-commands this package adds to the `repomend` CLI (see repomend.cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Registers nothing yet."""
