"""The `repomend` command: repair a method from the terminal, or watch the demo."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from repomend.console_repair import check_python, check_sandbox, choose_tests, load_model, report, run_repair
from repomend.contract.conversation import Mode
from repomend.errors import EXIT_ERROR, EXIT_OK, UserError
from repomend.settings import Settings
from repomend.targets import TargetError, find_python, resolve_target, split_spec

COMMAND_MODULES = (
    "repomend.model_commands",
    "lsp.commands",
    "training.commands",
    "server.commands",
    "server.repos_commands",
    "server.retraining.commands",
)
"""Other faces register their sub-commands here: each module has `add_commands(subparsers)`, which sets
`handler=` (a function of (args, console) -> exit code) on its parsers. Importing it must stay cheap."""


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--think",
        dest="mode",
        action="store_const",
        const=Mode.THINK,
        help="let the model reason first",
    )
    mode.add_argument(
        "--no-think",
        dest="mode",
        action="store_const",
        const=Mode.NO_THINK,
        help="answer directly (default)",
    )
    parser.add_argument("--turns", type=int, help="most model turns (default 5)")
    parser.add_argument("--samples", type=int, help="candidates per turn, verified by the tests (best-of-n)")
    parser.add_argument(
        "--model",
        help="catalogue name (`repomend models`), GGUF file or model folder (default: qwen2.5-coder-1.5b)",
    )
    parser.add_argument("--engine-url", help="use this running llama-server instead of starting one")
    parser.add_argument("--adapter", help="name of a LoRA adapter under the adapters folder")
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="run candidate code WITHOUT the sandbox's isolation (only limits and a throw-away copy)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repomend", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    fix = commands.add_parser("repair", help="repair one method so that its tests pass")
    fix.add_argument("target", metavar="PATH::[Class.]method")
    fix.add_argument(
        "--tests",
        action="append",
        metavar="NODEIDS",
        help="pytest node ids (comma-separated or repeated); default: the tests that cover the method",
    )
    fix.add_argument(
        "--repo",
        type=Path,
        help="repository root (default: nearest folder with pyproject.toml, setup.py, .git, ...)",
    )
    fix.add_argument("--python", help="the repository's interpreter (default: its .venv, else this one)")
    fix.add_argument("--apply", action="store_true", help="write the verified fix into the file")
    _add_model_options(fix)

    demo = commands.add_parser("demo", help="break a method of a bundled sample project and repair it")
    _add_model_options(demo)

    serve = commands.add_parser("serve", help="run the HTTP repair server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8765)")
    serve.add_argument("--model", help="catalogue name, GGUF file or model folder")
    serve.add_argument("--engine-url", help="use this running llama-server instead of starting one")

    db = commands.add_parser("db", help="manage the server's database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="create or migrate the database to this version's schema")
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(commands)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = Settings()
    updates: dict[str, object] = {}
    for name in ("mode", "model", "engine_url"):
        if getattr(args, name, None):
            updates[name] = getattr(args, name)
    if args.turns is not None:
        updates["max_turns"] = args.turns
    if args.samples is not None:
        updates["samples_per_turn"] = args.samples
    if args.no_isolation:
        updates["sandbox"] = settings.sandbox.model_copy(update={"isolation": "none"})
    if updates.get("max_turns", 1) < 1 or updates.get("samples_per_turn", 1) < 1:  # type: ignore[operator]
        raise UserError("--turns and --samples must be at least 1")
    return settings.model_copy(update=updates)


def cmd_repair(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from_args(args)
    file, qualname = split_spec(args.target)
    target = resolve_target(file, qualname, repo=args.repo)
    python = Path(args.python) if args.python else find_python(target.repo)
    if not python.exists():
        raise UserError(f"no such interpreter: {python}")
    check_sandbox(settings)
    check_python(target.repo, python, settings)
    tests = choose_tests(target, args.tests, python, settings, console)
    backend = load_model(settings, console)
    try:
        trajectory = run_repair(target, tests, python, settings, backend, console, adapter=args.adapter)
    finally:
        backend.close()
    code = report(trajectory, console)
    if args.apply and trajectory.fixed_source is not None:
        (target.repo / target.path).write_text(trajectory.fixed_source, encoding="utf-8")
        console.print(f"written to {target.repo / target.path}")
    return code


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from repomend.demo import run_demo

    return run_demo(settings_from_args(args), console, adapter=args.adapter)


def cmd_db(args: argparse.Namespace, console: Console) -> int:
    from server.db.engine import default_database_url
    from server.db.migrate import describe, upgrade

    settings = Settings()
    url = settings.database_url or default_database_url(settings)
    upgrade(url)
    console.print(f"the database at {describe(url)} is up to date")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    import uvicorn

    from server.app import ServerConfigError, create_app
    from server.db.engine import default_database_url
    from server.db.migrate import DatabaseNotMigrated, check_up_to_date

    settings = Settings()
    updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(
        update={
            "server": settings.server.model_copy(update=updates),
            **({"model": args.model} if args.model else {}),
            **({"engine_url": args.engine_url} if args.engine_url else {}),
        }
    )
    try:
        check_up_to_date(settings.database_url or default_database_url(settings))  # before the slow load
        backend = load_model(settings, console, serving=True)
        app = create_app(settings, backend)
    except (ServerConfigError, DatabaseNotMigrated) as err:
        raise UserError(str(err)) from err
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_level="info")
    finally:
        backend.close()  # stops the engine this process started
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    commands = {"repair": cmd_repair, "demo": cmd_demo, "serve": cmd_serve, "db": cmd_db}
    handler = getattr(args, "handler", None) or commands[args.command]
    try:
        return handler(args, console)
    except (UserError, TargetError) as err:
        print(f"repomend: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("repomend: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
