"""llama.cpp's `llama-server`, the CPU engine: a GGUF base model plus GGUF LoRA adapters chosen per request.

The prompt is rendered here with the server's own chat template through `repomend.contract.rendering`
(the one renderer training uses too), tokenized by the server without added special tokens, and
sent to `/completion` as token ids, so the model reads exactly what an adapter was trained on.
Later turns of a repair share their prefix with earlier ones and reuse the server's prompt cache;
the samples of one turn go in one request (`n_cmpl`), decoded side by side in the server's slots.

Adapters are loaded at start (`--lora`, all at scale 0) and every request lists every loaded
adapter with an explicit scale (the requested one at 1, the others at 0: an empty list would fall
back to the global scales). llama-server cannot load an adapter while running, so a request
naming one it has not loaded restarts the child with the new set; the lock that serialises
requests means no request in flight is dropped by that restart.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from repomend.backends.adapter_files import adapter_path, available_adapters
from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig
from repomend.backends.model_files import adapter_gguf
from repomend.backends.sampling import check_request
from repomend.contract.conversation import (
    FORCED_CLOSE,
    THINK_CLOSE,
    THINK_PREFILL,
    Message,
    Mode,
    split_reasoning,
)
from repomend.contract.rendering import ChatTemplate, render_prompt
from repomend.llamacpp.build import engine_files
from repomend.llamacpp.process import EngineStartError, LlamaServer, ServerConfig
from repomend.settings import Settings

CODE_BLOCK_END = "\n```\n"
"""Stop string that ends an answer after its code block (only the block is used); the closing
fence is put back on the content so it reads like a whole answer."""


@dataclass(frozen=True)
class _Row:
    text: str
    tokens: int
    prompt_tokens: int
    cached_tokens: int
    stopped_by: str
    """`eos`, `word` (a stop string) or `limit` (n_predict)."""


class LlamaCppBackend(Backend):
    """A client of one llama-server: the child it owns (default) or one the user runs (`engine_url`)."""

    def __init__(self, settings: Settings, *, server: LlamaServer | None = None) -> None:
        from repomend.backends.model_files import model_gguf

        self._settings = settings
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=settings.engine_timeout)
        self._adapters: list[tuple[str, Path]] = []
        """What the running llama-server was started with, in the order it numbers them: (caller's
        name, GGUF file). Positions never change while it runs: a request's ids index this list."""
        self._forgotten: set[str] = set()
        """Adapters unloaded since the start: still in the engine's memory, never chosen again."""
        self._server: LlamaServer | None = None
        if settings.engine_url:
            self._name = settings.model
            self._url = settings.engine_url.rstrip("/")
        else:
            self._name, model = model_gguf(settings)
            self._server = server or LlamaServer(self._config(model, ()))
            try:
                self._url = self._server.ensure_running()
            except EngineStartError as err:
                raise BackendError(str(err)) from err
        props = self._get("/props")
        self._template = ChatTemplate(
            props.get("chat_template") or "",
            {k: props[k] for k in ("bos_token", "eos_token") if props.get(k)},
        )
        if not self._template.source:
            raise BackendError(f"{self._name} has no chat template; use an instruct/chat model")
        settings_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
        self._context = int(settings_ctx or settings.context_size)

    # -- Backend interface -------------------------------------------------------------------

    def describe(self, adapter: str | None = None) -> str:
        return self._name if adapter is None else f"{self._name}+{adapter}"

    @property
    def template(self) -> ChatTemplate:
        return self._template

    @property
    def url(self) -> str:
        return self._url

    @property
    def server(self) -> LlamaServer | None:
        return self._server

    def loaded_adapters(self) -> list[str]:
        return [name for name, path in self._adapters if name not in self._forgotten and path.is_file()]

    def unload_adapter(self, name: str) -> None:
        """Forget the adapter; its weights leave memory when the engine next restarts (to load another)."""
        with self._lock:
            self._forgotten.add(name)

    def close(self) -> None:
        with self._lock:
            self._client.close()
            if self._server is not None:
                self._server.stop()

    def context_size(self) -> int:
        return self._context

    def count_prompt_tokens(self, messages: list[Message], mode: Mode) -> int:
        with self._lock:
            return len(self.tokenize(render_prompt(self._template, messages, mode)))

    def tokenize(self, text: str) -> list[int]:
        """The server's token ids for `text`, special tokens parsed, none added."""
        reply = self._post("/tokenize", {"content": text, "add_special": False, "parse_special": True})
        return [int(t) for t in reply["tokens"]]

    def generate(
        self,
        messages: list[Message],
        *,
        mode: Mode,
        config: GenerationConfig,
        n: int = 1,
        adapter: str | None = None,
    ) -> list[Completion]:
        check_request(config, n)
        prompt = render_prompt(self._template, messages, mode)
        with self._lock:
            lora = self._lora_field(adapter)
            started = time.perf_counter()
            ids = self.tokenize(prompt)
            if len(ids) + 1 >= self._context:
                raise BackendError(
                    f"the prompt has {len(ids)} tokens; the engine's context holds {self._context}"
                )
            results = []
            # Samples decode side by side, one per slot; more samples than slots go in turns.
            for done in range(0, n, self._slots()):
                batch = min(self._slots(), n - done)
                batch_config = replace(config, seed=None if config.seed is None else config.seed + done)
                if mode is Mode.THINK:
                    results += self._think(ids, batch_config, batch, lora)
                else:
                    rows = self._complete(
                        [ids], batch_config, batch, lora, config.max_new_tokens, self._answer_stops(config)
                    )
                    results += [(self._answer(row), row, row.tokens, False) for row in rows]
            seconds = time.perf_counter() - started
        completions = []
        for text, first, tokens, forced in results:
            split = split_reasoning(text)
            completions.append(
                Completion(
                    content=split.content,
                    reasoning=split.reasoning,
                    prompt_tokens=first.prompt_tokens,
                    completion_tokens=tokens,
                    seconds=seconds,
                    budget_forced=forced,
                    truncated=first.stopped_by == "limit" if mode is Mode.NO_THINK else False,
                    cached_tokens=first.cached_tokens,
                )
            )
        return completions

    # -- generation ----------------------------------------------------------------------------

    def _answer_stops(self, config: GenerationConfig) -> list[str]:
        return [CODE_BLOCK_END] if config.stop_after_code_block else []

    @staticmethod
    def _answer(row: _Row) -> str:
        return row.text + ("\n```" if row.stopped_by == "word" else "")

    def _think(
        self, ids: list[int], config: GenerationConfig, n: int, lora: list[dict[str, Any]] | None
    ) -> list[tuple[str, _Row, int, bool]]:
        """Reasoning (at most `thinking_budget` tokens, stopped at `</think>`), then the answer."""
        prefill = "" if self._template.native_thinking else THINK_PREFILL
        budget = config.thinking_budget or max(self._context - len(ids) - config.max_new_tokens, 1)
        reasoning = self._complete([ids], config, n, lora, budget, [THINK_CLOSE])
        forced_ids = self.tokenize(FORCED_CLOSE)
        results = []
        for index, first in enumerate(reasoning):
            # The close is written the same way whether the model reached it or the budget did.
            seed = None if config.seed is None else config.seed + 1 + index
            [answer] = self._complete(
                [ids + self.tokenize(first.text.rstrip()) + forced_ids],
                replace(config, seed=seed),
                1,
                lora,
                config.max_new_tokens,
                self._answer_stops(config),
            )
            text = prefill + first.text.rstrip() + FORCED_CLOSE + self._answer(answer)
            results.append((text, first, first.tokens + answer.tokens, first.stopped_by == "limit"))
        return results

    def _complete(
        self,
        prompts: list[list[int]],
        config: GenerationConfig,
        n: int,
        lora: list[dict[str, Any]] | None,
        n_predict: int,
        stop: list[str],
    ) -> list[_Row]:
        body: dict[str, Any] = {
            "prompt": prompts[0] if len(prompts) == 1 else prompts,
            "n_predict": n_predict,
            "n_cmpl": n,
            "temperature": config.temperature,
            "top_p": config.top_p if config.temperature > 0 else 1.0,
            "top_k": 0 if config.temperature > 0 else 1,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "stop": stop,
            "cache_prompt": True,
        }
        if config.seed is not None:
            body["seed"] = config.seed
        if lora is not None:
            body["lora"] = lora
        reply = self._post("/completion", body)
        results = reply if isinstance(reply, list) else [reply]
        results = sorted(results, key=lambda r: int(r.get("index", 0)))
        if len(results) != n * len(prompts):
            raise BackendError(
                f"the engine returned {len(results)} completions instead of {n * len(prompts)}"
            )
        rows = []
        for result in results:
            timings = result.get("timings") or {}
            stop_type = result.get("stop_type", "")
            rows.append(
                _Row(
                    text=result.get("content", ""),
                    tokens=int(result.get("tokens_predicted") or 0),
                    prompt_tokens=int(result.get("tokens_evaluated") or 0),
                    cached_tokens=int(timings.get("cache_n") or 0),
                    stopped_by="limit"
                    if stop_type == "limit"
                    else ("word" if stop_type == "word" else "eos"),
                )
            )
        return rows

    # -- adapters ------------------------------------------------------------------------------

    def _lora_field(self, adapter: str | None) -> list[dict[str, Any]] | None:
        """Every adapter the engine holds with its scale for this request; None when it holds none."""
        if adapter is not None and adapter not in self.loaded_adapters():
            self._load(adapter)
        if not self._adapters:
            return None
        return [
            {"id": i, "scale": 1.0 if name == adapter else 0.0} for i, (name, _) in enumerate(self._adapters)
        ]

    def _load(self, name: str) -> None:
        folder = adapter_path(self._settings, name)
        if folder is None:
            available = ", ".join(available_adapters(self._settings)) or "none"
            raise BackendError(
                f"unknown adapter {name!r} (looked in {self._settings.resolved_adapters_dir}); "
                f"available: {available}"
            )
        if self._server is None:
            raise BackendError(
                f"adapter {name!r} cannot be loaded into the engine at {self._url}, "
                "which repomend does not own;"
                " start it with the adapter's GGUF (--lora) or let repomend start the engine"
            )
        try:
            gguf = adapter_gguf(folder, self._settings)
        except Exception as err:
            raise BackendError(f"cannot convert adapter {name!r} to GGUF: {err}") from err
        kept = [(n, p) for n, p in self._adapters if n in self.loaded_adapters() and n != name]
        try:
            self._restart([*kept, (name, gguf)])
        except EngineStartError as err:
            with contextlib.suppress(EngineStartError):
                self._restart(kept)
            raise BackendError(f"the engine refused adapter {name!r}: {err}") from err

    def _restart(self, adapters: list[tuple[str, Path]]) -> None:
        """Start the engine again holding exactly `adapters` (dropped ones leave its memory)."""
        assert self._server is not None
        self._adapters = []
        files = tuple(path for _, path in adapters)
        self._url = self._server.restart(self._config(self._server.config.model, files))
        self._adapters = adapters
        self._forgotten -= {name for name, _ in adapters}

    def _config(self, model: Path, loras: tuple[Path, ...]) -> ServerConfig:
        settings = self._settings
        binary = settings.llamacpp_server or engine_files(settings.llamacpp_dir).server
        return ServerConfig(
            binary=binary,
            model=model,
            loras=loras,
            threads=settings.threads or len(os.sched_getaffinity(0)),
            slots=self._slots(),
            context=settings.context_size,
            log=settings.data_dir / "logs" / "llama-server.log",
        )

    def _slots(self) -> int:
        return max(1, self._settings.engine_slots or self._settings.samples_per_turn)

    # -- HTTP ----------------------------------------------------------------------------------

    def _get(self, path: str) -> dict[str, Any]:
        return self._request("GET", path)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("POST", path, json=body)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; when the owned child has died, it is started again and the call made once more."""
        for attempt in (1, 2):
            try:
                response = self._client.request(method, self._url + path, **kwargs)
            except httpx.TransportError as err:
                if attempt == 1 and self._server is not None and not self._server.running():
                    try:
                        self._url = self._server.ensure_running()
                    except EngineStartError as start_err:
                        raise BackendError(
                            f"the engine died and could not be restarted: {start_err}"
                        ) from err
                    continue
                raise BackendError(f"cannot reach the engine at {self._url}: {err}") from err
            if response.status_code >= 400:
                raise BackendError(
                    f"the engine answered {method} {path} with HTTP {response.status_code}: "
                    f"{_error_text(response)}"
                )
            return response.json()
        raise AssertionError("unreachable")


def _error_text(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:300]
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:300]
