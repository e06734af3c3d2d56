"""Request and response bodies of the HTTP API (what the OpenAPI schema publishes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from repomend.contract.conversation import Mode
from repomend.progress_events import PROGRESS_EVENT
from server.repair_status import RepairStatus

MAX_FILE_CHARS = 1_000_000
MAX_TESTS = 500
COMPONENT = "#/components/schemas/{model}"


class RepositoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    path: str = Field(
        min_length=1, max_length=4096, description="Absolute path of the checkout on the server"
    )
    python: str | None = Field(
        default=None, max_length=4096, description="Its interpreter; default: its .venv, else the server's"
    )
    test_paths: list[str] | None = Field(default=None, max_length=100)


class RepositoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    path: str
    python: str
    test_paths: list[str] | None
    created_at: datetime


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qualname: str | None = Field(default=None, min_length=1, max_length=500, examples=["Stats.mean"])
    line: int | None = Field(default=None, ge=0, le=10_000_000, description="0-based, as in LSP")
    column: int | None = Field(default=None, ge=0, le=100_000)

    @model_validator(mode="after")
    def one_way(self) -> Target:
        if (self.qualname is None) == (self.line is None):
            raise ValueError("give either `qualname` or `line`")
        return self


class RepairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: str = Field(min_length=1, max_length=200, description="Registered repository name")
    path: str = Field(min_length=1, max_length=4096, description="File path relative to the repository")
    content: str | None = Field(default=None, max_length=MAX_FILE_CHARS, description="Unsaved file content")
    target: Target
    tests: list[str] | None = Field(
        default=None, max_length=MAX_TESTS, description="pytest node ids; default: covering tests"
    )
    mode: Mode | None = None
    max_turns: int | None = Field(default=None, ge=1, le=10)
    samples_per_turn: int | None = Field(default=None, ge=1, le=16)


class TurnOut(BaseModel):
    turn: int
    passed: bool
    tests_passed: int
    tests_failed: int
    rejection: str | None
    reasoning_words: int
    generation_seconds: float
    test_seconds: float
    completion_tokens: int


class RepairOut(BaseModel):
    id: str
    status: RepairStatus
    repository: str
    path: str
    qualname: str | None
    mode: Mode
    model: str | None
    adapter: str | None = Field(
        default=None, description="The adapter version that served it; None = base model"
    )
    tests: list[str]
    new_method: str | None = Field(description="The verified method text, when fixed")
    diff: str | None = Field(description="Unified diff of the file, when fixed")
    fix_type: str | None = Field(
        default=None, description="The kind of fix (off by one, comparison, missing case, ...), when fixed"
    )
    last_attempt_diff: str | None = None
    failure: str | None = Field(default=None, description="Why the last attempt failed")
    basis: dict | None = Field(
        default=None,
        description="What the outcome rests on: `summary`, `reference`, the tests that `ran`, `passed`, "
        "were `neutral` (skipped as in the reference), `dodged` or `failed`, and `second_run` "
        "(agreed / disagreed)",
    )
    turns: list[TurnOut]
    error: dict | None = None
    seconds: float | None = None


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["accepted", "rejected"]
    reason: str | None = Field(default=None, max_length=10_000)
    final_text: str | None = Field(default=None, max_length=MAX_FILE_CHARS, description="What the user kept")


class FeedbackOut(BaseModel):
    repair_id: str
    verdict: str
    reason: str | None
    recorded_at: datetime


class AdapterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1,
        max_length=4096,
        description="Folder on the server holding a finished adapter: PEFT files and repomend_adapter.json",
    )
    force: bool = Field(default=False, description="Register even if its base model is not the served one")
    activate: bool = Field(default=False, description="Make it the active version at once")


class AdapterOut(BaseModel):
    version: str = Field(examples=["v3"])
    name: str = Field(description="What the backends load it by", examples=["stats/v3"])
    active: bool
    status: str
    base_model: str
    path: str | None = Field(description="Its folder on the server; None once deleted")
    dataset: dict | None = Field(description="Path, version and hash of the data it was trained on")
    training: dict | None = Field(description="The training configuration")
    metrics: dict | None
    evaluation: dict | None = Field(description="eval_report.json: Pass@1..5 per model and mode")
    trained_at: datetime | None
    registered_at: datetime
    activated_at: datetime | None
    deleted_at: datetime | None


class ActivationOut(BaseModel):
    action: str
    version: str | None = Field(description="Active afterwards; None = the base model")
    previous_version: str | None
    reverted: bool = Field(description="Undone by a rollback")
    at: datetime


class AdapterListOut(BaseModel):
    repository: str
    active: str | None = Field(description="The version new repairs use; None = the base model")
    adapters: list[AdapterOut]
    history: list[ActivationOut]


class ActiveAdapterOut(BaseModel):
    repository: str
    active: str | None = Field(description="The version new repairs use; None = the base model")
    previous: str | None = Field(description="The version active before this change")


def _event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
        },
    }


def event_stream_openapi() -> dict[str, Any]:
    """The repair event stream for the OpenAPI schema, one `itemSchema` per server-sent event (the
    OpenAPI 3.2 way, as FastAPI describes its own streams): `progress` carries a `ProgressEvent`,
    `done` the repair (only its status when it had finished before the stream began). The
    event models themselves reach the schema's components as the route's `response_model`."""
    progress = PROGRESS_EVENT.json_schema(ref_template=COMPONENT)
    progress.pop("$defs", None)
    done = {
        "anyOf": [
            {"$ref": COMPONENT.format(model=RepairOut.__name__)},
            {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"$ref": COMPONENT.format(model=RepairStatus.__name__)}},
            },
        ]
    }
    stream = {"itemSchema": {"oneOf": [_event("progress", progress), _event("done", done)]}}
    return {"responses": {"200": {"content": {"text/event-stream": stream}}}}
