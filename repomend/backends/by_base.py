"""One engine per base model, chosen per request by the adapter's base.

A repository may be served best by a small base with its own adapter (the 0.5B, adapted, at
twice the 1.5B's speed) while others use the default base. `ByBase` holds the engine of the
served model (`settings.model`) and starts another base's engine the first time an adapter
trained on that base is asked for; requests without an adapter, or with one of the served
model's, go to the served model's engine. The adapter's base is read from its manifest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from repomend.backends.adapter_files import adapter_base_model
from repomend.backends.base import Backend, Completion, GenerationConfig
from repomend.backends.catalogue import CATALOGUE, catalogue_model
from repomend.contract.conversation import Message, Mode
from repomend.settings import Settings


def same_model(a: str, b: str) -> bool:
    """Whether two names of a model (catalogue name, title, folder) mean the same one."""

    def key(name: str) -> str:
        last = (Path(name.rstrip("/")).name or name).lower()
        known = catalogue_model(name) or next((m for m in CATALOGUE if m.title.lower() == last), None)
        return known.name if known else last

    return key(a) == key(b)


class ByBase(Backend):
    """The served model's engine, and each other base's engine started on first need."""

    def __init__(self, settings: Settings, served: Backend, load: Callable[[Settings], Backend]) -> None:
        self._settings = settings
        self._served = served
        self._load = load
        self._others: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def engine_for(self, adapter: str | None) -> Backend:
        """The engine whose base the adapter was trained on (the served one when it is that base)."""
        base = adapter_base_model(self._settings, adapter) if adapter else None
        if base is None or same_model(base, self._settings.model):
            return self._served
        with self._lock:
            for name, engine in self._others.items():
                if same_model(name, base):
                    return engine
            # Its own engine process: an engine the user started (`engine_url`) runs the served model.
            other = self._settings.model_copy(update={"model": base, "engine_url": None})
            engine = self._others[base] = self._load(other)
            return engine

    def bases(self) -> list[str]:
        """The base models with an engine running: the served one first."""
        return [self._settings.model, *self._others]

    def generate(
        self,
        messages: list[Message],
        *,
        mode: Mode,
        config: GenerationConfig,
        n: int = 1,
        adapter: str | None = None,
    ) -> list[Completion]:
        return self.engine_for(adapter).generate(messages, mode=mode, config=config, n=n, adapter=adapter)

    def describe(self, adapter: str | None = None) -> str:
        return self.engine_for(adapter).describe(adapter)

    def context_size(self) -> int | None:
        # The loop asks without an adapter; every base runs with the same context setting.
        return self._served.context_size()

    def count_prompt_tokens(self, messages: list[Message], mode: Mode) -> int:
        return self._served.count_prompt_tokens(messages, mode)

    def engines(self) -> list[Backend]:
        return [self._served, *self._others.values()]

    def loaded_adapters(self) -> list[str]:
        return [name for engine in self.engines() for name in engine.loaded_adapters()]

    def unload_adapter(self, name: str) -> None:
        for engine in self.engines():
            engine.unload_adapter(name)

    def close(self) -> None:
        for engine in reversed(self.engines()):
            engine.close()
