"""Per-turn progress on the terminal, fed by the loop's events."""

from __future__ import annotations

from rich.console import Console
from rich.status import Status as Spinner
from rich.syntax import Syntax

from repomend.loop import AttemptTested, Event, InitialTestsRun, TurnStarted


def _counts(passed: int, failed: int) -> str:
    return f"{passed} passed, {failed} failed"


class TurnPrinter:
    """Prints a line per tested attempt; with `show_code`, each candidate too (the demo)."""

    def __init__(self, console: Console, *, show_code: bool = False) -> None:
        self.console = console
        self.show_code = show_code
        self._spinner: Spinner | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, InitialTestsRun):
            r = event.results
            failed = len(r.failures) + len(r.collection_errors)
            passed = r.passed_count
            self.console.print(f"[bold]given method[/]: {_counts(passed, failed)}")
        elif isinstance(event, TurnStarted):
            self._stop()
            self._spinner = self.console.status(f"turn {event.turn}/{event.max_turns}: generating")
            self._spinner.start()
        elif isinstance(event, AttemptTested):
            self._stop()
            self._print_attempt(event)

    def _print_attempt(self, event: AttemptTested) -> None:
        a = event.attempt
        head = f"turn {event.turn}/{event.max_turns}"
        if a.rejection:
            verdict = f"[yellow]not testable[/]: {a.rejection}"
        elif a.passed:
            verdict = f"[green]tests pass[/] ({_counts(a.tests_passed, a.tests_failed)})"
        else:
            verdict = f"[red]tests fail[/] ({_counts(a.tests_passed, a.tests_failed)})"
        timing = (
            f"[dim]{a.completion_tokens} tokens in {a.generation_seconds:.1f}s, "
            f"tests {a.test_seconds:.1f}s[/]"
        )
        self.console.print(f"[bold]{head}[/]: {verdict} {timing}")
        if a.reasoning:
            self.console.print(f"  [dim]reasoning: {len(a.reasoning.split())} words[/]")
        if self.show_code and a.candidate:
            self.console.print(Syntax(a.candidate, "python", line_numbers=False, indent_guides=False))

    def _stop(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    def close(self) -> None:
        self._stop()
