"""Model backends behind one interface; `load_backend` picks one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig

if TYPE_CHECKING:
    from repomend.settings import Settings

__all__ = ["Backend", "BackendError", "Completion", "GenerationConfig", "load_backend"]


def load_backend(settings: Settings) -> Backend:
    """The backend `settings.backend` names; imported lazily so `import repomend` stays free of torch."""
    if settings.backend == "openai":
        from repomend.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.backend == "transformers":
        from repomend.backends.transformers_backend import TransformersBackend

        return TransformersBackend(settings)
    raise BackendError(f"unknown backend {settings.backend!r}; choose transformers or openai")
