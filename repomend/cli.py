"""The `repomend` command: repair a method from the terminal, or watch the demo."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from repomend.backends.base import Backend, BackendError
from repomend.discovery import DiscoveredTests, DiscoveryError, check_given_tests, discover_tests
from repomend.loop import RepairOptions, RepairRequest, SandboxUnusable, repair
from repomend.progress import TurnPrinter
from repomend.settings import Settings
from repomend.targets import Target, TargetError, find_python, resolve_target, split_spec
from repomend.trajectory import Status, Trajectory
from repomend.warm_runs import WarmTestRunner

EXIT_FIXED = 0
EXIT_UNFIXED = 1
EXIT_BAD_INPUT = 2


class UserError(Exception):
    """Printed as one line, exit code 2."""


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
        const="think",
        help="let the model reason first",
    )
    mode.add_argument(
        "--no-think",
        dest="mode",
        action="store_const",
        const="no-think",
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


def check_sandbox(settings: Settings) -> None:
    from sandbox.runner import check_isolation

    if settings.sandbox.isolation == "strict" and (missing := check_isolation()):
        raise UserError(
            f"the sandbox cannot isolate candidate code here (missing: {', '.join(missing)}); "
            "fix that or pass --no-isolation to run without isolation"
        )


def check_python(repo: Path, python: Path, settings: Settings) -> None:
    """Say in one line, before any model is loaded, when the interpreter cannot run in the sandbox."""
    from sandbox.runner import check_interpreter

    problem = check_interpreter(
        repo, python=python, limits=settings.sandbox.limits(), isolation=settings.sandbox.isolation
    )
    if problem is not None:
        raise UserError(problem)


def load_model(settings: Settings, console: Console) -> Backend:
    from repomend.backends import load_backend

    with console.status(f"loading {settings.model}"):
        try:
            return load_backend(settings)
        except BackendError as err:
            raise UserError(f"cannot load the model: {err}") from err


def choose_tests(
    target: Target, given: Sequence[str] | None, python: Path, settings: Settings, console: Console
) -> DiscoveredTests:
    with console.status("finding the tests"):
        try:
            if given:
                ids = [t.strip() for item in given for t in item.split(",") if t.strip()]
                return check_given_tests(target.repo, ids, python=python, settings=settings)
            return discover_tests(
                target.repo,
                target.path,
                target.method,
                python=python,
                settings=settings,
                source=target.source,
            )
        except DiscoveryError as err:
            raise UserError(str(err)) from err


def run_repair(
    target: Target,
    tests: DiscoveredTests,
    python: Path,
    settings: Settings,
    backend: Backend,
    console: Console,
    *,
    adapter: str | None = None,
    show_code: bool = False,
) -> Trajectory:
    console.print(f"tests ({tests.how}: {tests.detail}): {', '.join(tests.ids)}")
    printer = TurnPrinter(console, show_code=show_code)
    request = RepairRequest(target.repo, target.path, target.method.qualname, tests.ids, source=target.source)
    try:
        with WarmTestRunner(settings, python) as runner:
            return repair(
                request,
                backend,
                runner,
                RepairOptions.from_settings(settings, adapter=adapter),
                on_event=printer,
            )
    except BackendError as err:
        raise UserError(f"the model failed: {err}") from err
    except SandboxUnusable as err:
        raise UserError(str(err)) from err
    finally:
        printer.close()


def report(trajectory: Trajectory, console: Console) -> int:
    if trajectory.status is Status.ALREADY_PASSING:
        console.print(f"`{trajectory.qualname}` already passes its tests; nothing to fix.")
        return EXIT_FIXED
    if trajectory.status is Status.FIXED:
        console.print(
            f"[green]fixed[/] `{trajectory.qualname}` in {trajectory.turns_used} turn(s), "
            f"{trajectory.seconds:.1f}s ({trajectory.model})"
        )
        console.out(trajectory.diff(), highlight=False)
        _print_basis(trajectory, console)
        return EXIT_FIXED
    if trajectory.status is Status.UNVERIFIED:
        console.print(
            f"[yellow]unverified[/]: an answer passed in turn {trajectory.turns_used} but not in a "
            "second, fresh run; it is not applied"
        )
        _print_basis(trajectory, console)
    if trajectory.status is Status.FAILED:
        console.print(f"[red]stopped[/]: {trajectory.error}")
    console.print(f"[red]not fixed[/] after {trajectory.turns_used} turn(s), {trajectory.seconds:.1f}s")
    last = trajectory.final
    if last is not None:
        if last.new_source is not None:
            console.print("last attempt:")
            console.out(trajectory.diff(last.new_source), highlight=False)
        console.print("why it failed:")
        console.out(trajectory.turns[-1].feedback or "", highlight=False)
    return EXIT_UNFIXED


def _print_basis(trajectory: Trajectory, console: Console) -> None:
    basis = trajectory.basis
    if basis is not None:
        console.print(f"verdict: {basis['summary']}; second run: {basis['second_run'] or 'not run'}")


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
    return EXIT_FIXED


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
        backend = load_model(settings, console)
        app = create_app(settings, backend)
    except (ServerConfigError, DatabaseNotMigrated) as err:
        raise UserError(str(err)) from err
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_level="info")
    finally:
        backend.close()  # stops the engine this process started
    return EXIT_FIXED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    commands = {"repair": cmd_repair, "demo": cmd_demo, "serve": cmd_serve, "db": cmd_db}
    handler = getattr(args, "handler", None) or commands[args.command]
    try:
        return handler(args, console)
    except (UserError, TargetError) as err:
        print(f"repomend: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("repomend: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
