"""`repomend repos add|list|remove`: registering repositories from the terminal (see
repomend.cli.COMMAND_MODULES).

Like `repomend adapters`, the commands work on the server's database directly, so no server needs
to run; a running one sees a new repository at its next repair.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session

    from repomend.settings import Settings
    from server.onboarding import SuiteReport


def add_commands(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("repos", help="register the repositories repairs may touch")
    sub = group.add_subparsers(dest="repos_command", required=True)

    add = sub.add_parser("add", help="check a repository, measure its test suite and register it")
    add.add_argument("path", help="the repository's folder")
    add.add_argument("--name", help="name to register it under (default: the folder's name)")
    add.add_argument("--python", help="its interpreter (default: its .venv, else the one running repomend)")
    add.set_defaults(handler=cmd_add)

    listing = sub.add_parser("list", help="the registered repositories")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_list)

    remove = sub.add_parser("remove", help="forget a repository, with its repairs and adapter versions")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)


def _work(work) -> int:
    """Run `work(session, settings)` on the server's database; a database never created is created."""
    from repomend.settings import Settings
    from server.commands import open_database
    from server.db.engine import default_database_url
    from server.db.migrate import current_revision, upgrade

    settings = Settings()
    url = settings.database_url or default_database_url(settings)
    if current_revision(url) is None:  # empty: the first command of a fresh machine
        upgrade(url)
    with open_database(settings) as sessions, sessions() as session:
        work(session, settings)
    return 0


def report_lines(report: SuiteReport) -> list[str]:
    """What `repos add` found, one aspect a line."""
    interpreter = report.interpreter
    version = ".".join(map(str, interpreter.version))
    suite = f"{report.passed} passed, {report.failed} failed"
    if report.skipped:
        suite += f", {report.skipped} skipped"
    suite += f" in {report.suite_seconds:.1f} s"
    if report.timed_out:
        suite = (
            f"did not finish within {report.limit_seconds:.0f} s ({suite} so far): name the tests of "
            "a repair (--tests) or raise REPOMEND_SANDBOX__WALL_SECONDS"
        )
    if report.coverage:
        coverage = "works: each repair runs the tests that execute its method"
    else:
        coverage = (
            f"unavailable ({report.coverage_problem}); repairs fall back to tests named after the method"
        )
    return [
        f"  interpreter   {interpreter.path} (Python {version})",
        f"  test command  {report.test_command}  (in the repository, inside the sandbox)",
        f"  tests         {report.tests} collected in {report.collect_seconds:.1f} s",
        f"  suite         {suite}",
        f"  coverage      {coverage}",
    ]


def cmd_add(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from repomend.errors import UserError
    from server.onboarding import OnboardingError, add_repository

    def work(session: Session, settings: Settings) -> None:
        try:
            with console.status(f"checking {args.path} and running its tests"):
                repository, report = add_repository(
                    session, settings, Path(args.path), name=args.name, python=args.python
                )
        except OnboardingError as err:
            raise UserError(str(err)) from err
        console.out(f"checked {repository.path}:", highlight=False)
        for line in report_lines(report):
            console.out(line, highlight=False)
        console.out(
            f"registered `{repository.name}`: with `repomend serve` running, Fix this method works in "
            "its files",
            highlight=False,
        )

    return _work(work)


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    import json

    from sqlalchemy import func, select

    from server import adapters
    from server.db.models import Repair, Repository

    def work(session: Session, _: Settings) -> None:
        grouped = select(Repair.repository_id, func.count()).group_by(Repair.repository_id)
        counts: dict[int, int] = {row[0]: row[1] for row in session.execute(grouped)}
        rows = []
        for repository in session.scalars(select(Repository).order_by(Repository.name)):
            active = adapters.active_adapter(session, repository)
            rows.append(
                {
                    "name": repository.name,
                    "path": repository.path,
                    "python": repository.python,
                    "test_command": repository.test_command,
                    "adapter": active.label if active else None,
                    "repairs": counts.get(repository.id, 0),
                }
            )
        if args.json:
            console.out(json.dumps(rows, indent=2), highlight=False)
        elif not rows:
            console.out("no repositories registered; add one with `repomend repos add PATH`", highlight=False)
        for row in [] if args.json else rows:
            console.out(
                f"{row['name']:<20} {row['path']}  python {row['python']}  "
                f"adapter {row['adapter'] or 'none (base model)'}  {row['repairs']} repairs",
                highlight=False,
            )

    return _work(work)


def cmd_remove(args: argparse.Namespace, console: Console) -> int:
    from sqlalchemy import func, select

    from server import service
    from server.db.models import Adapter, Repair

    def work(session: Session, _: Settings) -> None:
        repository = service.repository_by_name(session, args.name)
        repairs = session.scalar(select(func.count()).where(Repair.repository_id == repository.id))
        versions = session.scalar(select(func.count()).where(Adapter.repository_id == repository.id))
        service.remove_repository(session, args.name)
        kept = f"; its adapter files stay on disk ({versions} versions)" if versions else ""
        console.out(f"removed `{args.name}` and its {repairs} repairs{kept}", highlight=False)

    return _work(work)
