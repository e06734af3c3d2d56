"""Reading an answer: extract its code, splice it into the file, keep the docstring, screen it.

The loop and the RL reward read every answer through `read_answer`, so an answer the server
would refuse is the answer training scores zero, and two answers are "the same code" by the one
`key` both use.
"""

from __future__ import annotations

from dataclasses import dataclass

from repomend.contract.conversation import NoCodeBlock, extract_code
from repomend.contract.screen import screen
from repomend.source import (
    CandidateRejected,
    Method,
    find_method,
    keep_docstring,
    method_text,
    splice,
    spliced_key,
)


@dataclass(frozen=True)
class Answer:
    """An answer read against the method it replaces: what the sandbox would test, or why not."""

    code: str | None
    """The answer's python block; None when the reply has none (see `rejection`)."""
    new_source: str | None
    """The file with the answer spliced in and the method's docstring kept; None when it cannot be."""
    key: str | None
    """The spliced method's code key: equal keys are the same code, whatever the layout."""
    rejection: str | None
    """Why the answer cannot be tested, in one line for the user and the next turn."""

    @property
    def testable(self) -> bool:
        return self.new_source is not None and self.rejection is None


def read_answer(
    content: str, source: str, method: Method, qualname: str, ground_truth: str | None = None
) -> Answer:
    """The answer in `content` (the reply without its reasoning) as the sandbox would test it."""
    try:
        code = extract_code(content)
    except NoCodeBlock as err:
        return Answer(None, None, None, str(err))
    try:
        new_source = keep_docstring(source, method, splice(source, method, code))
    except CandidateRejected as err:
        return Answer(code, None, None, str(err))
    return Answer(
        code,
        new_source,
        spliced_key(new_source, qualname),
        _screened(new_source, source, method, qualname, ground_truth),
    )


def _screened(
    new_source: str, source: str, method: Method, qualname: str, ground_truth: str | None
) -> str | None:
    """The screen's reason against the answer as spliced, compared with the method it replaces."""
    try:
        candidate = method_text(new_source, find_method(new_source, qualname))
        return screen(candidate, method_text(source, method), source, ground_truth)
    except (SyntaxError, ValueError):
        return None  # the splice already accepted it; nothing the screen can read
