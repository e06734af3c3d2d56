"""A repair on the terminal: the checks before the model loads, the tests, the loop, the report.

Shared by `repomend repair` and `repomend demo`, and by training commands that need the same
checks; each step raises `UserError` with one line the user can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from repomend.backends.base import Backend, BackendError
from repomend.discovery import DiscoveredTests, DiscoveryError, check_given_tests, discover_tests
from repomend.errors import EXIT_NOT_FIXED, EXIT_OK, UserError
from repomend.loop import RepairOptions, RepairRequest, SandboxUnusable, repair
from repomend.progress import TurnPrinter
from repomend.settings import Settings
from repomend.targets import Target
from repomend.trajectory import Status, Trajectory
from repomend.warm_runs import WarmTestRunner


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


def load_model(settings: Settings, console: Console, *, serving: bool = False) -> Backend:
    """The model; `serving` (the server) also serves adapters of other bases, started on need."""
    from repomend.backends import load_backend, serving_backend

    with console.status(f"loading {settings.model}"):
        try:
            return (serving_backend if serving else load_backend)(settings)
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
        return EXIT_OK
    if trajectory.status is Status.FIXED:
        console.print(
            f"[green]fixed[/] `{trajectory.qualname}` in {trajectory.turns_used} turn(s), "
            f"{trajectory.seconds:.1f}s ({trajectory.model})"
            + (f"; fix type: {kind}" if (kind := trajectory.fix_type) else "")
        )
        console.out(trajectory.diff(), highlight=False)
        _print_basis(trajectory, console)
        return EXIT_OK
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
    return EXIT_NOT_FIXED


def _print_basis(trajectory: Trajectory, console: Console) -> None:
    basis = trajectory.basis
    if basis is not None:
        console.print(f"verdict: {basis['summary']}; second run: {basis['second_run'] or 'not run'}")
