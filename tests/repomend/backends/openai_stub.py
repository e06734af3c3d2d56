"""A stand-in OpenAI-compatible server on 127.0.0.1 that records requests and replays a script."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


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


class StubServer:
    """Serves GET /v1/models and POST /v1/chat/completions from a queue of scripted replies."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: list[Reply] = []
        self.models: list[dict[str, Any]] = [{"id": "base-model", "owned_by": "vllm"}]
        self.app = FastAPI()
        self.app.get("/v1/models")(self._models)
        self.app.post("/v1/chat/completions")(self._chat)
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

    async def _models(self) -> dict[str, Any]:
        return {"object": "list", "data": self.models}

    async def _chat(self, request: Request) -> JSONResponse:
        self.requests.append(Recorded(await request.json(), dict(request.headers)))
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
