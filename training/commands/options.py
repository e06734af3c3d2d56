"""Options and checks the `repomend train` steps share, and flags made from a config dataclass."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from repomend.settings import Settings


def add_config_flags(
    parser: argparse.ArgumentParser,
    config: type,
    names: Sequence[str],
    *,
    helps: Mapping[str, str] | None = None,
) -> None:
    """One flag per named field of the `config` dataclass, grouped under its name (as
    HfArgumentParser does): the flag is `metadata["flag"]` or `--field-name`, its type, choices and
    default are the field's, its help is `metadata["help"]` (or `helps[name]`) and the default."""
    hints = typing.get_type_hints(config)
    fields = {found.name: found for found in dataclasses.fields(config)}
    group = parser.add_argument_group(f"{config.__name__} ({config.__module__})")
    for name in names:
        found, kind = fields[name], hints[name]
        if type(None) in typing.get_args(kind):  # X | None: the flag is optional
            (kind,) = (arg for arg in typing.get_args(kind) if arg is not type(None))
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            choices, convert = tuple(member.value for member in kind), kind
        else:
            choices = typing.get_args(kind) if typing.get_origin(kind) is Literal else None
            convert = str if choices else kind
        if choices is None and kind not in (int, float, str):
            raise TypeError(f"{config.__name__}.{name}: no flag for a field of type {kind}")
        help_text = (helps or {}).get(name) or found.metadata["help"]
        if found.default is not None:
            shown = f"{found.default:g}" if isinstance(found.default, float) else found.default
            help_text += f" (default {shown})"
        flag = found.metadata.get("flag", "--" + name.replace("_", "-"))
        group.add_argument(
            flag,
            dest=name,
            metavar=None if choices else flag.lstrip("-").replace("-", "_").upper(),
            type=convert,
            choices=choices,
            default=found.default.value if isinstance(found.default, enum.Enum) else found.default,
            help=help_text,
        )


def config_values(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The values `add_config_flags` parsed, as keyword arguments of the config."""
    return {name: getattr(args, name) for name in names}


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
    from repomend.console_repair import check_sandbox
    from repomend.errors import UserError

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
    from repomend.errors import UserError

    if args.teachers_file is not None:
        if not args.teachers_file.is_file():
            raise UserError(f"no such teachers file: {args.teachers_file}")
        return args.teachers_file
    default = settings.data_dir / "teachers.toml"
    return default if default.is_file() else None
