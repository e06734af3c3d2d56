"""The stand-in model: an OpenAI-compatible server on 127.0.0.1, started in the test process, that
records requests and replays a script of replies."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from repomend.contract import prompts


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]


def chat_reply(
    *contents: str,
    reasoning: list[str | None] | None = None,
    finish: str = "stop",
    prompt_tokens: int = 11,
    completion_tokens: int = 20,
    reasoning_field: str = "reasoning_content",
) -> Reply:
    """A 200 chat-completion with one choice per content."""
    choices = []
    for index, content in enumerate(contents):
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning and reasoning[index] is not None:
            message[reasoning_field] = reasoning[index]
        choices.append({"index": index, "message": message, "finish_reason": finish})
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    return Reply(body={"id": "c", "object": "chat.completion", "choices": choices, "usage": usage})


def code_reply(code: str, delay: float = 0.0) -> Reply:
    """A chat completion answering with `code` as the system prompt asks (one python block)."""
    reply = chat_reply(prompts.as_code_reply(code))
    reply.delay = delay
    return reply


def _vllm_error(message: str, kind: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": status}}, status)


class StubServer:
    """Serves GET /v1/models and POST /v1/chat/completions from a queue of scripted replies.

    Like vLLM started with `--enable-lora` and `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`, it also
    serves POST /v1/load_lora_adapter and /v1/unload_lora_adapter (same bodies, plain-text
    successes, the same errors); `runtime_lora = False` removes those routes, as vLLM does
    without the variable. With `check_models`, a chat naming neither the base model nor a loaded
    adapter gets vLLM's 404.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: list[Reply] = []
        self.models: list[dict[str, Any]] = [{"id": "base-model", "owned_by": "vllm"}]
        self.loras: dict[str, str] = {}
        """Loaded adapters: name -> path."""
        self.lora_calls: list[tuple[str, dict[str, Any]]] = []
        self.runtime_lora = True
        self.check_models = False
        self.sees_files = True
        """False: the server runs elsewhere and cannot read the adapter folders it is given."""
        self.app = FastAPI()
        self.app.get("/v1/models")(self._models)
        self.app.post("/v1/chat/completions")(self._chat)
        self.app.post("/v1/load_lora_adapter")(self._load_lora)
        self.app.post("/v1/unload_lora_adapter")(self._unload_lora)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> None:
        self.requests.clear()
        self.script.clear()
        self.models = [{"id": "base-model", "owned_by": "vllm"}]
        self.loras.clear()
        self.lora_calls.clear()
        self.runtime_lora = True
        self.check_models = False
        self.sees_files = True

    async def _models(self) -> dict[str, Any]:
        loras = [{"id": name, "root": path, "owned_by": "vllm"} for name, path in self.loras.items()]
        return {"object": "list", "data": self.models + loras}

    async def _load_lora(self, request: Request):
        if not self.runtime_lora:
            return JSONResponse({"detail": "Not Found"}, 404)
        body = await request.json()
        self.lora_calls.append(("load", body))
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            return _vllm_error("Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput", 400)
        if name in self.loras:
            return _vllm_error(f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput", 400)
        if not self.sees_files or not (Path(path) / "adapter_config.json").is_file():
            return _vllm_error(f"No adapter found for {path}", "NotFoundError", 404)
        self.loras[name] = path
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    async def _unload_lora(self, request: Request):
        if not self.runtime_lora:
            return JSONResponse({"detail": "Not Found"}, 404)
        body = await request.json()
        self.lora_calls.append(("unload", body))
        name = body.get("lora_name")
        if name not in self.loras:
            return _vllm_error(f"The lora adapter '{name}' cannot be found.", "NotFoundError", 404)
        del self.loras[name]
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    async def _chat(self, request: Request) -> JSONResponse:
        self.requests.append(Recorded(await request.json(), dict(request.headers)))
        model = self.requests[-1].body.get("model")
        known = {m["id"] for m in self.models} | set(self.loras)
        if self.check_models and model not in known:
            return _vllm_error(f"The model `{model}` does not exist.", "NotFoundError", 404)
        if not self.script:
            return JSONResponse({"error": {"message": "no scripted reply left"}}, status_code=500)
        reply = self.script.pop(0)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stub server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
