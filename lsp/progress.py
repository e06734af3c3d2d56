"""A fix's progress in the editor: one cancellable `$/progress` per fix, one report per turn.

Editors without `window.workDoneProgress` get no progress (and no error): the final message
still tells them how it went.
"""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.lsp.server import LanguageServer

log = logging.getLogger("repomend.lsp")


def describe(event: dict) -> tuple[str, int | None]:
    """A progress event of the server as a message and a percentage."""
    kind = event.get("type")
    if kind == "started":
        return "finding the tests that cover the method", 0
    if kind == "tests_found":
        tests = event.get("tests") or []
        return f"{len(tests)} test{'s' if len(tests) != 1 else ''} cover the method; running them", 0
    if kind == "initial_tests":
        return f"before the fix: {event.get('passed', 0)} tests passed, {event.get('failed', 0)} failed", 0
    turn, turns = event.get("turn", 0), event.get("max_turns", 0) or 1
    where = f"turn {turn} of {turns}"
    done = max(0, min(100, round(100 * (turn - 1) / turns)))
    if kind == "turn_started":
        return f"{where}: asking the model", done
    if kind == "attempt_tested":
        finished = max(0, min(100, round(100 * turn / turns)))
        if event.get("rejection"):
            return f"{where}: answer not usable ({event['rejection']})", finished
        verdict = "passed" if event.get("passed") else "failed"
        counts = f"{event.get('tests_passed', 0)} tests passed, {event.get('tests_failed', 0)} failed"
        return f"{where}: {verdict} ({counts})", finished
    return str(kind or "working"), None


class FixProgress:
    """Begin, report and end one work-done progress; does nothing when the editor has none."""

    def __init__(self, server: LanguageServer, token: str) -> None:
        self.server = server
        self.token = token
        self.active = False

    async def begin(self, title: str, message: str) -> None:
        window = self.server.client_capabilities.window
        if not (window and window.work_done_progress):
            return
        try:
            await self.server.work_done_progress.create_async(self.token)
        except Exception as err:  # an editor refusing progress must not stop the fix
            log.warning("the editor refused a progress bar: %s", err)
            return
        self.active = True
        self.server.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=title, message=message, cancellable=True, percentage=0),
        )

    def report(self, message: str, percentage: int | None = None, cancellable: bool = True) -> None:
        if self.active:
            value = types.WorkDoneProgressReport(
                message=message, percentage=percentage, cancellable=cancellable
            )
            self.server.work_done_progress.report(self.token, value)

    def end(self, message: str) -> None:
        if self.active:
            self.active = False
            self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.server.work_done_progress.tokens.pop(self.token, None)
