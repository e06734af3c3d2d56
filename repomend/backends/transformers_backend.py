"""In-process generation with transformers (CPU by default), PEFT adapters switched per request."""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers import GenerationConfig as HFGenerationConfig

from repomend.backends.adapter_files import ADAPTER_CONFIG, adapter_path, available_adapters
from repomend.backends.base import Backend, BackendError, Completion, GenerationConfig
from repomend.backends.model_files import resolve_model
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
from repomend.settings import Settings

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_CLOSE_WINDOW = len(THINK_CLOSE)
"""`</think>` is 8 characters, so it spans at most the last 8 generated tokens."""


class _ThinkClosed(StoppingCriteria):
    """Stops each row as soon as its generated text contains `</think>`."""

    def __init__(self, tokenizer: Any, prompt_length: int) -> None:
        self._tokenizer = tokenizer
        self._prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        tails = input_ids[:, self._prompt_length :][:, -_CLOSE_WINDOW:]
        texts = self._tokenizer.batch_decode(tails, skip_special_tokens=False)
        return torch.tensor([THINK_CLOSE in text for text in texts], device=input_ids.device)


_CODE_BLOCK = re.compile(r"```(?:python3?|py)?[ \t]*\n(?:(?!```)[\s\S])*?\bdef\b(?:(?!```)[\s\S])*\n```")
_FENCE_WINDOW = 4
"""A closing fence spans at most the last few tokens; only then is the whole answer decoded."""


class _CodeBlockDone(StoppingCriteria):
    """Stops each row once its answer holds a complete fenced code block defining a function."""

    def __init__(self, tokenizer: Any, prompt_length: int) -> None:
        self._tokenizer = tokenizer
        self._prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        generated = input_ids[:, self._prompt_length :]
        tails = self._tokenizer.batch_decode(generated[:, -_FENCE_WINDOW:], skip_special_tokens=True)
        done = []
        for row, tail in enumerate(tails):
            if "`" not in tail:
                done.append(False)
                continue
            text = self._tokenizer.decode(generated[row], skip_special_tokens=True)
            done.append(_CODE_BLOCK.search(text) is not None)
        return torch.tensor(done, device=input_ids.device)


@dataclass(frozen=True)
class _LoadedAdapter:
    key: str
    """PEFT's name for it: caller names may hold `.` and `/`, which module names may not."""
    path: Path


@dataclass
class _Rows:
    ids: list[list[int]]
    """Generated ids per row, without padding or the end-of-sequence token."""
    ended: list[bool]
    """The row produced an end-of-sequence token (rather than running out of tokens)."""


class TransformersBackend(Backend):
    """Loads the model once; one generation at a time, because it owns the CPU cores.

    Think mode runs in two phases: reasoning (at most `thinking_budget` tokens, stopped at
    `</think>`, force-closed otherwise), then the answer (at most `max_new_tokens`). A
    `thinking_budget` of None bounds reasoning only by the model's context length.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        if settings.threads:
            torch.set_num_threads(settings.threads)
        source = resolve_model(settings)
        self._name = source.name
        self._tokenizer = _load_tokenizer(source.location)
        self._model = _load_model(source.location, settings)
        self._template = ChatTemplate.from_tokenizer(self._tokenizer)
        self._native_thinking = self._template.native_thinking
        self._eos_ids = _eos_ids(self._model, self._tokenizer)
        self._pad_id = self._eos_ids[0]
        self._context = getattr(self._model.config, "max_position_embeddings", None) or 2048
        self._peft: Any = None
        self._adapters: dict[str, _LoadedAdapter] = {}
        """Loaded adapters by the name callers use."""
        self._adapter_ids = itertools.count()
        self._lock = threading.Lock()

    # -- Backend interface -------------------------------------------------------------------

    def describe(self, adapter: str | None = None) -> str:
        return self._name if adapter is None else f"{self._name}+{adapter}"

    def generate(
        self,
        messages: list[Message],
        *,
        mode: Mode,
        config: GenerationConfig,
        n: int = 1,
        adapter: str | None = None,
    ) -> list[Completion]:
        """`n` > 1 needs temperature > 0 (ValueError otherwise); `seed` makes sampling repeatable."""
        check_request(config, n)
        prompt = self.render_prompt(messages, mode)
        prompt_ids = self._tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if len(prompt_ids) >= self._context:
            raise BackendError(
                f"the prompt has {len(prompt_ids)} tokens; {self._name} reads at most {self._context}"
            )
        with self._lock, self._active_model(adapter), torch.inference_mode():
            if config.seed is not None:
                torch.manual_seed(config.seed)
            started = time.perf_counter()
            if mode is Mode.THINK:
                results = self._think(prompt_ids, config, n)
            else:
                results = self._answer_only(prompt_ids, config, n)
            seconds = time.perf_counter() - started
        return [
            Completion(
                content=content,
                reasoning=reasoning,
                prompt_tokens=len(prompt_ids),
                completion_tokens=tokens,
                seconds=seconds,
                budget_forced=forced,
                truncated=truncated,
            )
            for content, reasoning, tokens, forced, truncated in results
        ]

    def close(self) -> None:
        with self._lock:
            self._peft = None
            self._model = None
        import gc

        gc.collect()

    # -- prompt --------------------------------------------------------------------------------

    def context_size(self) -> int:
        return self._context

    def count_prompt_tokens(self, messages: list[Message], mode: Mode) -> int:
        return len(self._tokenizer(self.render_prompt(messages, mode), add_special_tokens=False)["input_ids"])

    def render_prompt(self, messages: list[Message], mode: Mode) -> str:
        """The exact text the model reads, ending where the assistant starts writing."""
        return render_prompt(self._template, messages, mode)

    # -- generation phases -----------------------------------------------------------------------

    def _answer_only(
        self, prompt_ids: list[int], config: GenerationConfig, n: int
    ) -> list[tuple[str, str | None, int, bool, bool]]:
        rows = self._run(
            [prompt_ids], config, config.max_new_tokens, copies=n, stop_at_code=config.stop_after_code_block
        )
        results = []
        for ids, ended in zip(rows.ids, rows.ended, strict=True):
            split = split_reasoning(self._decode(ids, skip_special=True))
            truncated = not ended and len(ids) >= config.max_new_tokens
            results.append((split.content, split.reasoning, len(ids), False, truncated))
        return results

    def _think(
        self, prompt_ids: list[int], config: GenerationConfig, n: int
    ) -> list[tuple[str, str | None, int, bool, bool]]:
        budget = config.thinking_budget or self._context - len(prompt_ids) - config.max_new_tokens
        reasoning_rows = self._run([prompt_ids], config, max(budget, 1), copies=n, stop_at_close=True)
        forced_ids = self._tokenizer(FORCED_CLOSE, add_special_tokens=False)["input_ids"]
        heads: list[str] = []
        continued: list[list[int]] = []
        forced: list[bool] = []
        for ids in reasoning_rows.ids:
            text = self._decode(ids, skip_special=False)
            closed = THINK_CLOSE in text
            # A model that stops without closing the block still owes an answer: close it.
            tail = [] if closed else forced_ids
            forced.append(not closed and len(ids) >= budget)
            heads.append(
                ("" if self._native_thinking else THINK_PREFILL) + text + ("" if closed else FORCED_CLOSE)
            )
            continued.append(prompt_ids + ids + tail)
        answer_rows = self._run(
            continued, config, config.max_new_tokens, stop_at_code=config.stop_after_code_block
        )
        results = []
        for i, (ids, ended) in enumerate(zip(answer_rows.ids, answer_rows.ended, strict=True)):
            split = split_reasoning(heads[i] + self._decode(ids, skip_special=True))
            tokens = len(reasoning_rows.ids[i]) + len(ids)
            truncated = not ended and len(ids) >= config.max_new_tokens
            results.append((split.content, split.reasoning, tokens, forced[i], truncated))
        return results

    def _run(
        self,
        prompts: list[list[int]],
        config: GenerationConfig,
        max_new_tokens: int,
        *,
        copies: int = 1,
        stop_at_close: bool = False,
        stop_at_code: bool = False,
    ) -> _Rows:
        """Generate for left-padded prompts; each prompt yields `copies` rows."""
        width = max(len(ids) for ids in prompts)
        input_ids = torch.full((len(prompts), width), self._pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        sampling = config.temperature > 0
        options: dict[str, Any] = {"do_sample": False}
        if sampling:
            options = {
                "do_sample": True,
                "temperature": config.temperature,
                "top_p": config.top_p,
                "top_k": 0,
            }
        generation_config = HFGenerationConfig(
            max_new_tokens=max_new_tokens,
            num_return_sequences=copies,
            eos_token_id=self._eos_ids,
            pad_token_id=self._pad_id,
            **options,
        )
        stopping = StoppingCriteriaList()
        if stop_at_close:
            stopping.append(_ThinkClosed(self._tokenizer, width))
        if stop_at_code:
            stopping.append(_CodeBlockDone(self._tokenizer, width))
        device = self._model.device
        output = self._model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            generation_config=generation_config,
            stopping_criteria=stopping,
        )
        rows = _Rows([], [])
        eos = set(self._eos_ids)
        for generated in output[:, width:].tolist():
            end = next((i for i, token in enumerate(generated) if token in eos), None)
            rows.ids.append(generated if end is None else generated[:end])
            rows.ended.append(end is not None)
        return rows

    def _decode(self, ids: list[int], *, skip_special: bool) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=skip_special)

    # -- adapters ------------------------------------------------------------------------------

    def available_adapters(self) -> list[str]:
        return available_adapters(self._settings)

    def loaded_adapters(self) -> list[str]:
        return sorted(self._adapters)

    def unload_adapter(self, name: str) -> None:
        with self._lock:
            self._drop_adapter(name)

    @contextmanager
    def _active_model(self, adapter: str | None) -> Iterator[None]:
        """Route the request through the named adapter, or through the bare base model."""
        self._forget_deleted()
        if adapter is None:
            if self._peft is None:
                yield
            else:
                with self._peft.disable_adapter():
                    yield
            return
        key = self._load_adapter(adapter)  # may create the PEFT wrapper: look it up afterwards
        self._peft.set_adapter(key)
        yield

    def _load_adapter(self, name: str) -> str:
        """Loads `name` on first use (no restart needed for a new one); returns PEFT's key for it."""
        loaded = self._adapters.get(name)
        if loaded is not None:
            return loaded.key
        path = adapter_path(self._settings, name)
        if path is None:
            available = ", ".join(self.available_adapters()) or "none"
            raise BackendError(
                f"unknown adapter {name!r} (looked in {self._settings.resolved_adapters_dir}); "
                f"available: {available}"
            )
        key = f"adapter_{next(self._adapter_ids)}"
        try:
            if self._peft is None:
                from peft import PeftModel

                self._peft = PeftModel.from_pretrained(self._model, path, adapter_name=key)
                self._peft.eval()
            else:
                self._peft.load_adapter(path, adapter_name=key)
        except Exception as exc:
            if self._peft is not None and key in self._peft.peft_config:
                with contextlib.suppress(Exception):  # leave no half-loaded adapter behind
                    self._peft.delete_adapter(key)
            raise BackendError(f"could not load adapter {name!r} from {path}: {exc}") from exc
        self._adapters[name] = _LoadedAdapter(key, path)
        return key

    def _forget_deleted(self) -> None:
        """Adapters deleted by another process (the CLI) leave memory at the next request."""
        for name, loaded in list(self._adapters.items()):
            if not (loaded.path / ADAPTER_CONFIG).is_file():
                self._drop_adapter(name)

    def _drop_adapter(self, name: str) -> None:
        """Free an adapter's weights; with none left the base model loses its LoRA layers too."""
        loaded = self._adapters.pop(name, None)
        if loaded is None or self._peft is None:
            return
        self._peft.delete_adapter(loaded.key)
        if not self._adapters:
            self._model = self._peft.unload()
            self._peft = None


def _load_tokenizer(location: str) -> Any:
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
    except Exception as exc:
        raise BackendError(_offline_message(location, exc)) from exc
    if not getattr(tokenizer, "chat_template", None):
        raise BackendError(f"{location} has no chat template; use an instruct/chat model")
    return tokenizer


def _load_model(location: str, settings: Settings) -> Any:
    try:
        model = AutoModelForCausalLM.from_pretrained(
            location,
            dtype=_DTYPES[settings.dtype],
            attn_implementation="sdpa",
            local_files_only=True,
        )
    except Exception as exc:
        raise BackendError(_offline_message(location, exc)) from exc
    try:
        model.to(settings.device)
    except Exception as exc:
        raise BackendError(f"cannot move the model to device {settings.device!r}: {exc}") from exc
    model.eval()
    return model


def _offline_message(location: str, exc: Exception) -> str:
    if Path(location).is_dir():
        return f"cannot load the model in {location}: {exc}"
    return (
        f"model {location!r} is neither a local folder nor in the local Hugging Face cache "
        f"(nothing is downloaded at run time; download it beforehand or give a folder): {exc}"
    )


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token that ends a chat turn: the config's EOS ids plus the tokenizer's."""
    ids: list[int] = []
    configured = model.generation_config.eos_token_id
    if isinstance(configured, int):
        ids.append(configured)
    elif configured:
        ids.extend(configured)
    for token in (tokenizer.eos_token, "<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
        if token is None:
            continue
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id not in ids:
            ids.append(token_id)
    if not ids:
        raise BackendError("the model defines no end-of-sequence token")
    return ids
