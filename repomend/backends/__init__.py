"""Model backends behind one interface; `load_backend` picks one from settings."""

from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig

__all__ = ["Backend", "BackendError", "Completion", "GenerationConfig"]
