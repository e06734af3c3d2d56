"""Model backends behind one interface; `load_backend` picks one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig

if TYPE_CHECKING:
    from repomend.settings import Settings

__all__ = ["Backend", "BackendError", "Completion", "GenerationConfig", "load_backend", "serving_backend"]


def load_backend(settings: Settings) -> Backend:
    """The engine `settings.engine` names; imported lazily so `import repomend` stays free of torch."""
    if settings.engine == "llamacpp":
        from repomend.backends.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(settings)
    if settings.engine == "openai":
        from repomend.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.engine == "transformers":
        from repomend.backends.transformers_backend import TransformersBackend

        return TransformersBackend(settings)
    raise BackendError(f"unknown engine {settings.engine!r}; choose llamacpp, transformers or openai")


def serving_backend(settings: Settings) -> Backend:
    """The engine that serves repairs: the served model's, plus, started on first need, the engine
    of any other base an adapter was trained on (`by_base.ByBase`). An OpenAI-compatible server
    serves what it was started with, so it is used as it is."""
    backend = load_backend(settings)
    if settings.engine == "openai":
        return backend
    from repomend.backends.by_base import ByBase

    return ByBase(settings, backend, load_backend)
