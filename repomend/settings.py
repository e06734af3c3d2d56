"""One settings object for every part; read from flags, environment (REPOMEND_*) and defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from repomend.contract.conversation import Mode

if TYPE_CHECKING:
    from sandbox.runner import Limits

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
"""Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF), pulled once by the set-up; `repomend models` lists others."""

Engine = Literal["llamacpp", "transformers", "openai"]

TURNS_BY_ENGINE: dict[str, tuple[int, int]] = {"llamacpp": (3, 2), "transformers": (5, 1), "openai": (5, 1)}
"""(max_turns, samples_per_turn) each engine starts from, for whichever the user leaves unset: on
llama.cpp two samples of a turn decode side by side in two slots for little more than the time of
one, and 3 turns × 2 samples fixed more methods than 5 × 1 (`benchmarks/engine_repairs.py
--turns T --samples S`); the other engines are unmeasured and keep one sample per turn."""


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "repomend"


class SandboxSettings(BaseSettings):
    """Limits applied to every sandboxed test run."""

    model_config = SettingsConfigDict(env_prefix="REPOMEND_SANDBOX_", extra="ignore")

    isolation: Literal["strict", "none"] = "strict"
    wall_seconds: float = 60.0
    memory_mb: int = 2048
    max_processes: int = 64
    file_size_mb: int = 64
    output_kb: int = 1024

    def limits(self, wall_factor: float = 1.0) -> Limits:
        """The sandbox's limits; `wall_factor` stretches the clock for whole-suite runs."""
        from sandbox.runner import Limits

        return Limits(
            wall_seconds=self.wall_seconds * wall_factor,
            memory_mb=self.memory_mb,
            max_processes=self.max_processes,
            file_size_mb=self.file_size_mb,
            output_kb=self.output_kb,
        )


class ServerSettings(BaseSettings):
    """How `repomend serve` listens and whom it lets in."""

    model_config = SettingsConfigDict(env_prefix="REPOMEND_SERVER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    """Required of every client; mandatory when listening beyond localhost."""
    admin_token: str | None = None
    """Required for /v1/admin routes (repositories, adapters, retraining)."""
    queue_capacity: int = 8
    workers: int = 1
    max_body_kb: int = 2048
    retrain_check_seconds: float = 60.0
    """How often the server looks for repositories whose retraining policy says a job is due."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REPOMEND_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    """SQLAlchemy URL of the server's database; default: SQLite file under `data_dir`."""

    engine: Engine = "llamacpp"
    """`llamacpp` (CPU default: a llama-server child), `transformers` (in process: training, GPUs,
    tests) or `openai` (any OpenAI-compatible server, e.g. vLLM)."""
    model: str = DEFAULT_MODEL
    """A catalogue name (`repomend models`), a GGUF file, a model folder, or a cached Hugging Face id."""
    engine_url: str | None = None
    """llamacpp: a llama-server the user runs; default: repomend starts and owns one."""
    engine_timeout: float = 600.0
    """Seconds one engine request may take."""
    engine_slots: int | None = None
    """llamacpp: parallel sequences; default: `samples_per_turn` (the samples of a turn decode together)."""
    context_size: int = 8192
    """llamacpp: tokens of context the engine holds."""
    llamacpp_dir: Path | None = None
    """Where llama-server is built; default: ~/.cache/repomend/llama.cpp."""
    llamacpp_server: Path | None = None
    """A llama-server binary to use instead of the one repomend builds."""
    adapters_dir: Path | None = None
    """Folder whose sub-folders are PEFT adapters, selectable by name; default: <data_dir>/adapters."""
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    threads: int | None = None
    """CPU threads for the model; default: every core this process may use."""

    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_api_key: str | None = None
    openai_model: str | None = None
    openai_timeout: float = 120.0
    openai_retries: int = 3

    mode: Mode = Mode.NO_THINK
    max_turns: int = 5
    """Model turns per repair; the default depends on the engine (`TURNS_BY_ENGINE`)."""
    samples_per_turn: int = 1
    """Answers sampled and tested per turn; the default depends on the engine (`TURNS_BY_ENGINE`)."""
    max_new_tokens: int = 768
    thinking_budget: int = 512
    temperature: float = 0.0
    """0 = greedy on the first sample; later samples and turns use `sample_temperature`."""
    sample_temperature: float = 0.7
    seed: int = 0

    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @model_validator(mode="before")
    @classmethod
    def _engine_turns(cls, data: Any) -> Any:
        """Each of turns and samples the user left unset takes its engine's default."""
        engine = data.get("engine", cls.model_fields["engine"].default) if isinstance(data, dict) else None
        if str(engine) not in TURNS_BY_ENGINE:
            return data  # not a dict, or an unknown engine that validation will refuse
        turns, samples = TURNS_BY_ENGINE[str(engine)]
        return {"max_turns": turns, "samples_per_turn": samples, **data}

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def resolved_adapters_dir(self) -> Path:
        return self.adapters_dir or self.data_dir / "adapters"
