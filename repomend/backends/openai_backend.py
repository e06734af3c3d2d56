"""Any OpenAI-compatible chat server; in production vLLM's server started with `--enable-lora`.

The adapter is chosen by `model=<adapter name>` (vLLM serves each loaded LoRA under its name),
thinking is switched with vLLM's `chat_template_kwargs`, and reasoning comes back either in
`message.reasoning_content` / `message.reasoning` (vLLM's reasoning parser) or inline as
`<think>...</think>`.

Adapters are hot-loaded: before an adapter name is first used, the folder it names (see
`repomend.backends.adapter_files`: `<adapters dir>/<repository>/<version>` or an absolute path)
is handed to vLLM with `POST /v1/load_lora_adapter {"lora_name", "lora_path"}`, and deleting an
adapter calls `POST /v1/unload_lora_adapter {"lora_name"}`. vLLM offers these routes only when
started with `--enable-lora` (and `--max-lora-rank` at least the adapters' rank) and the
environment variable `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`; it reads the folder itself, so it
must see the same path (same machine or a shared mount). A name with no folder behind it is sent
as is: adapters vLLM was started with (`--lora-modules name=path`) keep working.

Thinking budget: on vLLM, think mode asks first for at most `thinking_budget` tokens stopped at
`</think>`, then continues the same assistant message (closing the block itself if the budget
ran out) through vLLM's `continue_final_message`. Servers that are not vLLM cannot continue a
message, so there reasoning and answer share one `max_tokens = thinking_budget +
max_new_tokens` limit and the budget is not enforced separately.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Collection
from typing import Any

import httpx

from repomend.backends.adapter_files import adapter_path
from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig
from repomend.backends.sampling import check_request
from repomend.contract.conversation import (
    FORCED_CLOSE,
    THINK_CLOSE,
    THINK_OPEN,
    THINK_PREFILL,
    Message,
    Mode,
    split_reasoning,
)
from repomend.settings import Settings

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0
_RUNTIME_LORA_HINT = (
    "start vLLM with --enable-lora and the environment variable VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
)


class ServerError(BackendError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class OpenAIBackend(Backend):
    """A chat-completions client with retries and readable errors.

    `continuation`: whether the server can continue a final assistant message (vLLM); None
    asks the server once (`owned_by == "vllm"` in GET /models).
    """

    def __init__(
        self,
        settings: Settings,
        client: httpx.Client | None = None,
        *,
        continuation: bool | None = None,
        backoff: float = 0.5,
    ) -> None:
        self._settings = settings
        self._base_url = settings.openai_base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {}
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=settings.openai_timeout)
        self._headers = headers
        self._continuation = continuation
        self._backoff = backoff
        self._models: list[dict[str, Any]] | None = None
        self._loaded: set[str] = set()
        """Adapters this client loaded into the server."""
        self._adapter_lock = threading.Lock()

    # -- Backend interface -------------------------------------------------------------------

    def describe(self, adapter: str | None = None) -> str:
        base = self._settings.openai_model or self._first_model_id()
        return base if adapter is None else f"{base}+{adapter}"

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def generate(
        self,
        messages: list[Message],
        *,
        mode: Mode,
        config: GenerationConfig,
        n: int = 1,
        adapter: str | None = None,
    ) -> list[Completion]:
        """`n` > 1 needs temperature > 0 (ValueError otherwise), as for every backend."""
        check_request(config, n)
        model = adapter or self._settings.openai_model or self._first_model_id()
        history = [dict(message) for message in messages]
        started = time.perf_counter()
        if adapter is not None:
            self._ensure_loaded(adapter)
        try:
            results = self._complete(model, history, mode, config, n)
        except ServerError as err:
            # A restarted server forgets adapters loaded at run time: load it again, once.
            if err.status != 404 or adapter not in self._loaded:
                raise
            self._loaded.discard(adapter)
            self._ensure_loaded(adapter)
            results = self._complete(model, history, mode, config, n)
        seconds = time.perf_counter() - started
        return [
            Completion(
                content=content,
                reasoning=reasoning,
                prompt_tokens=prompt_tokens,
                completion_tokens=tokens,
                seconds=seconds,
                budget_forced=forced,
                truncated=truncated,
            )
            for content, reasoning, prompt_tokens, tokens, forced, truncated in results
        ]

    def loaded_adapters(self) -> list[str]:
        return sorted(self._loaded)

    def unload_adapter(self, name: str) -> None:
        """Ask the server to drop an adapter this client may have loaded (404 = it had none)."""
        with self._adapter_lock:
            self._send("POST", "/unload_lora_adapter", json={"lora_name": name}, accept={404})
            self._loaded.discard(name)

    # -- adapters ------------------------------------------------------------------------------

    def _ensure_loaded(self, name: str) -> None:
        if name in self._loaded:
            return
        with self._adapter_lock:
            if name in self._loaded:
                return
            path = adapter_path(self._settings, name)
            if path is None:
                return  # not ours: the server may know it (--lora-modules), else it says so
            url = f"{self._base_url}/load_lora_adapter"
            response = self._send(
                "POST",
                "/load_lora_adapter",
                json={"lora_name": name, "lora_path": str(path.resolve())},
                accept={400, 404},
            )
            if response.status_code == 404 and _is_missing_route(response):
                raise BackendError(
                    f"{url} does not exist, so adapter {name!r} cannot be loaded: {_RUNTIME_LORA_HINT}"
                )
            if response.status_code >= 400 and "already been loaded" not in _error_text(response):
                raise BackendError(
                    f"the server could not load adapter {name!r} from {path} (it must see that path): "
                    f"HTTP {response.status_code}: {_error_text(response)}"
                )
            self._loaded.add(name)

    # -- the two request shapes ----------------------------------------------------------------

    def _complete(
        self, model: str, history: list[dict[str, Any]], mode: Mode, config: GenerationConfig, n: int
    ) -> list[tuple[str, str | None, int, int, bool, bool]]:
        if mode is Mode.THINK and config.thinking_budget is not None and self._can_continue():
            return self._think_with_budget(model, history, config, n)
        return self._single_call(model, history, mode, config, n)

    def _single_call(
        self,
        model: str,
        history: list[dict[str, Any]],
        mode: Mode,
        config: GenerationConfig,
        n: int,
    ) -> list[tuple[str, str | None, int, int, bool, bool]]:
        thinking = mode is Mode.THINK
        max_tokens = config.max_new_tokens + ((config.thinking_budget or 0) if thinking else 0)
        body = self._body(model, history, config, n, max_tokens=max_tokens, thinking=thinking)
        reply = self._chat(body)
        prompt_tokens, per_choice = _usage(reply, n)
        results = []
        for choice in _choices(reply, n):
            split = split_reasoning(_full_text(choice["message"]))
            truncated = choice.get("finish_reason") == "length"
            results.append((split.content, split.reasoning, prompt_tokens, per_choice, False, truncated))
        return results

    def _think_with_budget(
        self,
        model: str,
        history: list[dict[str, Any]],
        config: GenerationConfig,
        n: int,
    ) -> list[tuple[str, str | None, int, int, bool, bool]]:
        budget = config.thinking_budget or 0
        first = self._body(model, history, config, n, max_tokens=budget, thinking=True)
        first["stop"] = [THINK_CLOSE]
        reply = self._chat(first)
        prompt_tokens, reasoning_tokens = _usage(reply, n)
        results = []
        for index, choice in enumerate(_choices(reply, n)):
            text = _full_text(choice["message"])
            if THINK_CLOSE in text and split_reasoning(text).content.strip():
                # The server answered in the same call (it ignored the stop string): keep it.
                split = split_reasoning(text)
                truncated = choice.get("finish_reason") == "length"
                results.append(
                    (split.content, split.reasoning, prompt_tokens, reasoning_tokens, False, truncated)
                )
                continue
            reasoning = _reasoning_only(text).strip()
            forced = choice.get("finish_reason") == "length"
            # The close is written the same way whether the model reached it or the budget did.
            prefix = THINK_PREFILL + reasoning + FORCED_CLOSE
            body = self._body(
                model,
                [*history, {"role": "assistant", "content": prefix}],
                config,
                1,
                max_tokens=config.max_new_tokens,
                thinking=True,
            )
            body.update(continue_final_message=True, add_generation_prompt=False)
            if config.seed is not None:
                body["seed"] = config.seed + index
            answer = self._chat(body)
            _, answer_tokens = _usage(answer, 1)
            [answer_choice] = _choices(answer, 1)
            content = _continuation_text(answer_choice["message"])
            results.append(
                (
                    content,
                    reasoning or None,
                    prompt_tokens,
                    reasoning_tokens + answer_tokens,
                    forced,
                    answer_choice.get("finish_reason") == "length",
                )
            )
        return results

    def _body(
        self,
        model: str,
        messages: list[dict[str, Any]],
        config: GenerationConfig,
        n: int,
        *,
        max_tokens: int,
        thinking: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "n": n,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": max_tokens,
            "chat_template_kwargs": {"enable_thinking": thinking},
        }
        if config.seed is not None:
            body["seed"] = config.seed
        return body

    # -- HTTP ----------------------------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/chat/completions", json=body)

    def _first_model_id(self) -> str:
        models = self._list_models()
        if not models:
            raise BackendError(f"{self._base_url} serves no models; set REPOMEND_OPENAI_MODEL")
        return str(models[0]["id"])

    def _list_models(self) -> list[dict[str, Any]]:
        if self._models is None:
            reply = self._request("GET", "/models")
            self._models = list(reply.get("data") or [])
        return self._models

    def _can_continue(self) -> bool:
        if self._continuation is None:
            self._continuation = any(m.get("owned_by") == "vllm" for m in self._list_models())
        return self._continuation

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call answered with JSON; BackendError otherwise."""
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            url = self._base_url + path
            raise BackendError(f"{method} {url} returned invalid JSON: {response.text[:200]}") from exc

    def _send(self, method: str, path: str, *, accept: Collection[int] = (), **kwargs: Any) -> httpx.Response:
        """One call with retries on connection failures, 429 and 5xx; error statuses not in
        `accept` raise ServerError."""
        url = self._base_url + path
        attempts = self._settings.openai_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._client.request(
                    method,
                    url,
                    headers=self._headers,
                    timeout=self._settings.openai_timeout,
                    **kwargs,
                )
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) and not last:
                    self._sleep(attempt, None)
                    continue
                raise BackendError(
                    f"{method} {url} timed out after {self._settings.openai_timeout:g} s"
                ) from exc
            except httpx.TransportError as exc:
                if not last:
                    self._sleep(attempt, None)
                    continue
                raise BackendError(f"cannot reach {url}: {exc}") from exc
            if response.status_code in _RETRY_STATUS and not last:
                self._sleep(attempt, response.headers.get("retry-after"))
                continue
            if response.status_code >= 400 and response.status_code not in accept:
                raise ServerError(
                    f"{method} {url} failed with HTTP {response.status_code}: {_error_text(response)}",
                    response.status_code,
                )
            return response
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self._backoff * 2**attempt
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(max(float(retry_after), delay), _MAX_RETRY_AFTER)
        time.sleep(delay)


def _error_text(response: httpx.Response) -> str:
    """The server's own explanation: OpenAI's `{"error": {"message": ...}}` or the raw body."""
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            return str(error)[:500]
    return str(payload)[:500]


def _is_missing_route(response: httpx.Response) -> bool:
    """A 404 of the web framework itself (no such route), not vLLM's "no adapter found"."""
    try:
        return response.json() == {"detail": "Not Found"}
    except ValueError:
        return True


def _choices(reply: dict[str, Any], n: int) -> list[dict[str, Any]]:
    choices = sorted(reply.get("choices") or [], key=lambda c: c.get("index", 0))
    if len(choices) != n or any(not isinstance(c.get("message"), dict) for c in choices):
        raise BackendError(f"the server returned {len(choices)} choices instead of {n}")
    return choices


def _usage(reply: dict[str, Any], n: int) -> tuple[int, int]:
    """Prompt tokens and completion tokens per choice.

    The API reports one total for all `n` choices; it is split evenly between them.
    """
    usage = reply.get("usage") or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0) // n


def _full_text(message: dict[str, Any]) -> str:
    """Put reasoning returned in a separate field back in front of the answer, as one text."""
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        return f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{content}"
    return content


def _continuation_text(message: dict[str, Any]) -> str:
    """A continued message is all answer, whichever field a reasoning parser put it in.

    Parsers that see no `</think>` in the output may file it as reasoning; the block was
    already closed in the prefix, so nothing returned here can be reasoning.
    """
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    return reasoning + (message.get("content") or "")


def _reasoning_only(text: str) -> str:
    """Everything a reasoning-phase call returned is reasoning (it stopped at or before the close)."""
    if THINK_CLOSE in text:
        return split_reasoning(text).reasoning or ""
    stripped = text.lstrip()
    return stripped[len(THINK_OPEN) :] if stripped.startswith(THINK_OPEN) else text
