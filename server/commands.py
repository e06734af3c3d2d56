"""`repomend adapters ...`: the adapter registry from the terminal (see repomend.cli.COMMAND_MODULES).

The commands work on the server's database and data directory directly, so they need no running
server; a running one sees every change at its next repair.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session, sessionmaker

    from repomend.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("adapters", help="list, register, activate, roll back or delete adapters")
    sub = group.add_subparsers(dest="adapters_command", required=True)

    listing = sub.add_parser("list", help="a repository's adapter versions and activation history")
    listing.add_argument("repository")
    listing.add_argument("--all", action="store_true", help="include deleted versions")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="one version: base model, dataset, training config, metrics")
    show.add_argument("repository")
    show.add_argument("version", help="v1, v2, ...")
    show.set_defaults(handler=cmd_show)

    register = sub.add_parser("register", help="copy a finished adapter folder in as the next version")
    register.add_argument("repository")
    register.add_argument("folder", help="folder with the PEFT files and repomend_adapter.json")
    register.add_argument("--force", action="store_true", help="even if trained on another base model")
    register.add_argument("--activate", action="store_true", help="make it the active version")
    register.set_defaults(handler=cmd_register)

    activate = sub.add_parser("activate", help="make a version the one new repairs use")
    activate.add_argument("repository")
    activate.add_argument("version")
    activate.set_defaults(handler=cmd_activate)

    rollback = sub.add_parser("rollback", help="return to the version active before the current one")
    rollback.add_argument("repository")
    rollback.set_defaults(handler=cmd_rollback)

    deactivate = sub.add_parser("deactivate", help="serve the base model to this repository")
    deactivate.add_argument("repository")
    deactivate.set_defaults(handler=cmd_deactivate)

    delete = sub.add_parser("delete", help="delete an inactive version's files")
    delete.add_argument("repository")
    delete.add_argument("version")
    delete.set_defaults(handler=cmd_delete)


@contextmanager
def open_database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The server's database for a command: one-line errors when it is not migrated, and for
    registry or job errors (`ApiError`) raised inside."""
    from repomend.errors import UserError
    from server.db.engine import default_database_url, make_engine, session_factory
    from server.db.migrate import DatabaseNotMigrated, check_up_to_date
    from server.errors import ApiError

    url = settings.database_url or default_database_url(settings)
    try:
        check_up_to_date(url)
    except DatabaseNotMigrated as err:
        raise UserError(str(err)) from err
    engine = make_engine(url)
    try:
        yield session_factory(engine)
    except ApiError as err:
        raise UserError(err.message) from err
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, console: Console, work) -> int:
    """Run `work(session, settings)` on the server's database."""
    from repomend.settings import Settings

    settings = Settings()
    with open_database(settings) as sessions, sessions() as session:
        work(session, settings)
    return 0


def _active_line(session: Session, repository: str) -> str:
    from server import adapters

    active = adapters.active_adapter(session, repository)
    return f"`{repository}` now uses {active.label if active else 'the base model'}"


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    from server import adapters
    from server.service import repository_by_name
    from server.views import adapter_list_out

    def work(session: Session, _: Settings) -> None:
        repository = repository_by_name(session, args.repository)
        found = adapters.list_adapters(session, repository, include_deleted=args.all)
        out = adapter_list_out(repository, found, adapters.activation_history(session, repository))
        if args.json:
            console.out(out.model_dump_json(indent=2), highlight=False)
            return
        if not out.adapters:
            console.print(f"`{out.repository}` has no adapters; it uses the base model")
            return
        for adapter in out.adapters:
            dataset = adapter.dataset or {}
            flags = "active" if adapter.active else ("deleted" if adapter.deleted_at else "")
            console.out(
                f"{adapter.version:<6} {flags:<8} {adapter.status:<11} base {adapter.base_model}  "
                f"dataset {dataset.get('version', '?')}  {_summary(adapter.metrics) or 'no metrics'}  "
                f"registered {adapter.registered_at:%Y-%m-%d %H:%M}",
                highlight=False,
            )
        console.print(f"active: {out.active or 'none (base model)'}")

    return _run(args, console, work)


def _summary(metrics: dict | None, limit: int = 3) -> str:
    """The first few numeric metrics, `name=value`, for the table; `show` prints them all."""
    numbers = [
        (k, v) for k, v in (metrics or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return ", ".join(f"{k}={v:.4g}" for k, v in numbers[:limit])


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    from server import adapters
    from server.service import repository_by_name
    from server.views import adapter_out

    def work(session: Session, _: Settings) -> None:
        repository = repository_by_name(session, args.repository)
        adapter = adapters.get_adapter(session, repository, args.version)
        console.out(adapter_out(repository, adapter).model_dump_json(indent=2), highlight=False)

    return _run(args, console, work)


def cmd_register(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from server import adapters

    def work(session: Session, settings: Settings) -> None:
        folder = Path(args.folder).expanduser().resolve()
        with console.status(f"copying {folder}"):
            adapter = adapters.register_adapter(session, settings, args.repository, folder, force=args.force)
        console.print(f"registered {args.repository}/{adapter.label} from {folder}")
        if args.activate:
            adapters.activate(session, args.repository, adapter.version)
            console.print(_active_line(session, args.repository))

    return _run(args, console, work)


def cmd_activate(args: argparse.Namespace, console: Console) -> int:
    from server import adapters

    def work(session: Session, _: Settings) -> None:
        adapters.activate(session, args.repository, args.version)
        console.print(_active_line(session, args.repository))

    return _run(args, console, work)


def cmd_rollback(args: argparse.Namespace, console: Console) -> int:
    from server import adapters

    def work(session: Session, _: Settings) -> None:
        adapters.rollback(session, args.repository)
        console.print(_active_line(session, args.repository))

    return _run(args, console, work)


def cmd_deactivate(args: argparse.Namespace, console: Console) -> int:
    from server import adapters

    def work(session: Session, _: Settings) -> None:
        adapters.deactivate(session, args.repository)
        console.print(_active_line(session, args.repository))

    return _run(args, console, work)


def cmd_delete(args: argparse.Namespace, console: Console) -> int:
    from server import adapters

    def work(session: Session, settings: Settings) -> None:
        backend = None
        if settings.engine == "openai":  # the vLLM server holds loaded adapters until told otherwise
            from repomend.backends.openai_backend import OpenAIBackend

            backend = OpenAIBackend(settings)
        try:
            adapter = adapters.delete_adapter(session, args.repository, args.version, backend)
        finally:
            if backend is not None:
                backend.close()
        console.print(f"deleted {args.repository}/{adapter.label}")

    return _run(args, console, work)
