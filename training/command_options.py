"""Options and checks the `repomend train` steps share."""

from __future__ import annotations

import argparse
from pathlib import Path

from repomend.settings import Settings


def add_sandbox_options(
    parser: argparse.ArgumentParser, python_default: str = "its .venv, else this one"
) -> None:
    parser.add_argument("--python", help=f"the repository's interpreter (default: {python_default})")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-clock limit of one test run")
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="run the tests WITHOUT the sandbox's isolation (only limits and a throw-away copy)",
    )


def sandbox_settings(args: argparse.Namespace, settings: Settings | None = None) -> Settings:
    """Settings from the environment with the sandbox flags applied; checks that isolation works."""
    from repomend.cli import UserError, check_sandbox

    settings = settings or Settings()
    updates: dict[str, object] = {}
    if args.no_isolation:
        updates["isolation"] = "none"
    if args.timeout is not None:
        if args.timeout <= 0:
            raise UserError("--timeout must be positive")
        updates["wall_seconds"] = args.timeout
    if updates:
        settings = settings.model_copy(update={"sandbox": settings.sandbox.model_copy(update=updates)})
    check_sandbox(settings)
    return settings


def add_teachers_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teachers-file",
        type=Path,
        metavar="TOML",
        help="named teachers ([teachers.NAME] tables); default: <data dir>/teachers.toml",
    )


def teachers_file(args: argparse.Namespace, settings: Settings) -> Path | None:
    from repomend.cli import UserError

    if args.teachers_file is not None:
        if not args.teachers_file.is_file():
            raise UserError(f"no such teachers file: {args.teachers_file}")
        return args.teachers_file
    default = settings.data_dir / "teachers.toml"
    return default if default.is_file() else None
