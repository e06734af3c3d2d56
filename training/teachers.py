"""Teachers: who answers in the repair loop while trajectories are generated.

- an OpenAI-compatible endpoint, named on the command line or in a TOML file:
    --teacher big=openai:https://host:8000/v1:Qwen/Qwen3-8B:TEACHER_KEY
  (URL, model, and optionally the environment variable holding the API key, upper case), or
    --teachers-file teachers.toml --teacher big
  with
    [teachers.big]
    kind = "openai"           # the default
    url = "https://host:8000/v1"
    model = "Qwen/Qwen3-8B"
    api_key_env = "TEACHER_KEY"   # optional; the key itself is never written in the file
    mode = "no-think"             # optional: think | no-think (default: the settings' mode)
    temperature = 0.0             # optional
- `local:MODEL`: a model of the catalogue (or a local GGUF file or model folder) run on this
  machine through the settings' local engine (llama.cpp unless it is `transformers`): a teacher
  that needs no network, e.g. `local:qwen2.5-coder-1.5b` for a 0.5B student; in the file
  `kind = "local"` with `model = "..."`;
- `student`: the local model of the settings (its adapter with `adapter = "..."` in the file);
- `mutation`: no model; breaks the ground truth with AST mutation operators (training.mutation).
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

from repomend.backends.base import Backend, Completion, GenerationConfig
from repomend.contract.conversation import Message, Mode
from repomend.settings import Settings
from training.errors import TeacherError

TeacherKind = Literal["openai", "local", "student", "mutation"]
KINDS: tuple[TeacherKind, ...] = get_args(TeacherKind)
BUILTIN = ("student", "mutation")
LOCAL_PREFIX = "local:"

_INLINE = re.compile(
    r"^(?P<name>[\w.-]+)=openai:(?P<url>https?://[^/\s:]+(?::\d+)?(?:/[^\s:]*)?):(?P<model>.+?)"
    r"(?::(?P<env>[A-Z_][A-Z0-9_]*))?$"
)
_NAME = re.compile(r"^[\w.-]+$")


@dataclass(frozen=True)
class TeacherSpec:
    name: str
    kind: TeacherKind
    url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    mode: Mode | None = None
    temperature: float | None = None
    adapter: str | None = None

    def describe(self) -> str:
        if self.kind == "openai":
            return f"openai {self.model} at {self.url}"
        if self.kind == "local":
            return f"local {self.model} (this machine)"
        if self.kind == "student":
            return "student (local model)" + (f" + {self.adapter}" if self.adapter else "")
        return "mutation (AST operators, no model)"


def read_teachers_file(path: Path) -> dict[str, TeacherSpec]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise TeacherError(f"cannot read the teachers file {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise TeacherError(f"the teachers file {path} is not valid TOML: {err}") from err
    table = data.get("teachers", data)
    if not isinstance(table, dict):
        raise TeacherError(f"{path}: expected [teachers.NAME] tables")
    specs = {}
    allowed = {"kind", "url", "model", "api_key_env", "mode", "temperature", "adapter"}
    for name, entry in table.items():
        if not isinstance(entry, dict) or not _NAME.match(name):
            raise TeacherError(f"{path}: [teachers.{name}] must be a table with a plain name")
        unknown = set(entry) - allowed
        if unknown:
            raise TeacherError(f"{path}: teacher {name!r} has unknown keys: {', '.join(sorted(unknown))}")
        spec = TeacherSpec(
            name=name, kind=entry.get("kind", "openai"), **{k: v for k, v in entry.items() if k != "kind"}
        )
        _check(spec, str(path))
        specs[name] = replace(spec, mode=Mode(spec.mode)) if spec.mode else spec
    return specs


def _check(spec: TeacherSpec, where: str) -> None:
    if spec.kind not in KINDS:
        raise TeacherError(f"{where}: teacher {spec.name!r} has unknown kind {spec.kind!r}")
    if spec.kind == "openai" and not (spec.url and spec.model):
        raise TeacherError(f"{where}: teacher {spec.name!r} needs `url` and `model`")
    if spec.kind == "local" and not spec.model:
        raise TeacherError(f"{where}: teacher {spec.name!r} needs `model` (a catalogue name or a path)")
    if spec.mode not in (None, *Mode):
        raise TeacherError(f"{where}: teacher {spec.name!r}: mode must be think or no-think")


def parse_teacher(text: str, known: Mapping[str, TeacherSpec] | None = None) -> TeacherSpec:
    """`student`, `mutation`, `local:MODEL`, a name from the teachers file, or
    `NAME=openai:URL:MODEL[:ENVVAR]`."""
    known = known or {}
    if text in known:
        return known[text]
    if text in BUILTIN:
        return TeacherSpec(name=text, kind=text)  # type: ignore[arg-type]
    if text.startswith(LOCAL_PREFIX) and (model := text[len(LOCAL_PREFIX) :].strip()):
        return TeacherSpec(name=LOCAL_PREFIX + Path(model).name, kind="local", model=model)
    match = _INLINE.match(text)
    if match:
        return TeacherSpec(
            name=match["name"],
            kind="openai",
            url=match["url"],
            model=match["model"],
            api_key_env=match["env"],
        )
    hint = f"; known: {', '.join([*BUILTIN, *known])}"
    raise TeacherError(
        f"unknown teacher {text!r} (expected local:MODEL or NAME=openai:URL:MODEL[:ENVVAR]{hint})"
    )


class LockedBackend(Backend):
    """One call at a time: an in-process model is not safe to share between worker threads."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def generate(
        self,
        messages: list[Message],
        *,
        mode: Mode,
        config: GenerationConfig,
        n: int = 1,
        adapter: str | None = None,
    ) -> list[Completion]:
        with self._lock:
            return self.inner.generate(messages, mode=mode, config=config, n=n, adapter=adapter)

    def context_size(self) -> int | None:
        return self.inner.context_size()

    def count_prompt_tokens(self, messages: list[Message], mode: Mode) -> int:
        with self._lock:
            return self.inner.count_prompt_tokens(messages, mode)

    def describe(self, adapter: str | None = None) -> str:
        return self.inner.describe(adapter)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Teacher:
    """A named source of answers; `backend` is None for the mutation teacher."""

    spec: TeacherSpec
    backend: Backend | None
    mode: Mode
    temperature: float | None = None
    adapter: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()


def local_teacher_settings(spec: TeacherSpec, settings: Settings) -> Settings:
    """The settings with the teacher's model, on the local engine: a server that reaches its model
    over HTTP (`engine = "openai"`) still runs a local teacher through llama.cpp."""
    engine = settings.engine if settings.engine in ("llamacpp", "transformers") else "llamacpp"
    return settings.model_copy(update={"model": spec.model, "engine": engine})


def load_teacher(spec: TeacherSpec, settings: Settings, *, backend: Backend | None = None) -> Teacher:
    """Connect or load the teacher's model; `backend` replaces it (tests, or a model already loaded)."""
    mode = Mode(spec.mode or settings.mode)
    if spec.kind == "mutation":
        return Teacher(spec, None, Mode.NO_THINK)
    if backend is None and spec.kind == "openai":
        from repomend.backends.openai_backend import OpenAIBackend

        key = None
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise TeacherError(
                    f"teacher {spec.name!r}: the environment variable {spec.api_key_env} is not set"
                )
        backend = OpenAIBackend(
            settings.model_copy(
                update={
                    "engine": "openai",
                    "openai_base_url": spec.url,
                    "openai_model": spec.model,
                    "openai_api_key": key,
                }
            )
        )
    elif backend is None and spec.kind == "local":
        from repomend.backends import load_backend

        backend = LockedBackend(load_backend(local_teacher_settings(spec, settings)))
    elif backend is None:
        from repomend.backends import load_backend

        backend = LockedBackend(load_backend(settings))
    assert backend is not None
    return Teacher(spec, backend, mode, temperature=spec.temperature, adapter=spec.adapter)
