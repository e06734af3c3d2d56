"""A fix's progress in the editor: one cancellable `$/progress` per fix, one report per turn.

Editors without `window.workDoneProgress` get no progress (and no error): the final message
still tells them how it went.
"""

from __future__ import annotations

import logging

from lsprotocol import types
from pydantic import ValidationError
from pygls.lsp.server import LanguageServer

from repomend.progress_events import (
    PROGRESS_EVENT,
    AttemptTestedEvent,
    InitialTestsEvent,
    StartedEvent,
    TestsFoundEvent,
    TurnStartedEvent,
)

log = logging.getLogger("repomend.lsp")


def _percent(turns_done: int, max_turns: int) -> int:
    return max(0, min(100, round(100 * turns_done / (max_turns or 1))))


def describe(data: dict) -> tuple[str, int | None]:
    """A progress event of the server (its JSON) as a message and a percentage."""
    try:
        event = PROGRESS_EVENT.validate_python(data)
    except ValidationError:  # a kind this editor does not know yet, or a broken one
        return str(data.get("type") or "working"), None
    match event:
        case StartedEvent():
            return "finding the tests that cover the method", 0
        case TestsFoundEvent(tests=tests):
            return f"{len(tests)} test{'s' if len(tests) != 1 else ''} cover the method; running them", 0
        case InitialTestsEvent(passed=passed, failed=failed):
            return f"before the fix: {passed} tests passed, {failed} failed", 0
        case TurnStartedEvent(turn=turn, max_turns=turns):
            return f"turn {turn} of {turns or 1}: asking the model", _percent(turn - 1, turns)
        case AttemptTestedEvent(turn=turn, max_turns=turns, rejection=rejection) if rejection:
            return f"turn {turn} of {turns or 1}: answer not usable ({rejection})", _percent(turn, turns)
        case AttemptTestedEvent(turn=turn, max_turns=turns):
            verdict = "passed" if event.passed else "failed"
            counts = f"{event.tests_passed} tests passed, {event.tests_failed} failed"
            return f"turn {turn} of {turns or 1}: {verdict} ({counts})", _percent(turn, turns)
    return event.type, None


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
