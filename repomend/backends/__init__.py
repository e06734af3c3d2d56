"""Model backends behind one interface; `load_backend` picks one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig

if TYPE_CHECKING:
    from repomend.settings import Settings

__all__ = ["Backend", "BackendError", "Completion", "GenerationConfig", "load_backend"]


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
