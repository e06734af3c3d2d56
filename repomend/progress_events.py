"""A repair's progress as the server streams it and the editors read it: one model per event.

The server builds them from the loop's events (`server.jobs.progress_event`) and publishes them
in its OpenAPI schema; the language server reads the stream with the same models, so the two
sides cannot disagree on a field. Fields keep the order they are sent in.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter


class StartedEvent(BaseModel):
    """A worker took the repair; finding the covering tests comes first when none were given."""

    type: Literal["started"] = "started"


class TestsFoundEvent(BaseModel):
    """The tests that cover the method, found by coverage."""

    __test__ = False  # not a pytest test class
    type: Literal["tests_found"] = "tests_found"
    tests: list[str]


class InitialTestsEvent(BaseModel):
    """The tests' results on the method as given, before any model turn."""

    type: Literal["initial_tests"] = "initial_tests"
    passed: int
    failed: int
    """Failed tests and collection errors."""


class TurnStartedEvent(BaseModel):
    """A model turn begins (1-based `turn`)."""

    type: Literal["turn_started"] = "turn_started"
    turn: int
    max_turns: int


class AttemptTestedEvent(BaseModel):
    """One sampled answer of a turn, and how its tests went."""

    type: Literal["attempt_tested"] = "attempt_tested"
    turn: int
    max_turns: int
    sample: int
    """0-based attempt index within the turn."""
    passed: bool
    tests_passed: int
    tests_failed: int
    rejection: str | None
    """Why the answer could not be tested; None when it was."""
    reasoning_words: int
    generation_seconds: float
    test_seconds: float


ProgressEvent = Annotated[
    StartedEvent | TestsFoundEvent | InitialTestsEvent | TurnStartedEvent | AttemptTestedEvent,
    Field(discriminator="type"),
]
PROGRESS_EVENT: TypeAdapter[ProgressEvent] = TypeAdapter(ProgressEvent)
"""Validates a progress event's JSON (`validate_python`, `validate_json`) and gives its schema."""
