"""The OpenAI-compatible backend against a real HTTP server standing in for vLLM."""

from __future__ import annotations

import socket

import pytest

from repomend.backends import load_backend
from repomend.backends.base import BackendError, GenerationConfig
from repomend.backends.openai_backend import OpenAIBackend
from repomend.contract.conversation import Mode
from repomend.settings import Settings
from tests.support.model import Reply, StubServer, chat_reply

MESSAGES = [
    {"role": "system", "content": "Answer with a python block."},
    {"role": "user", "content": "Fix mean."},
]
ANSWER = "```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```"


@pytest.fixture
def stub(model_stub: StubServer) -> StubServer:
    model_stub.reset()
    return model_stub


def make_backend(stub: StubServer, **overrides) -> OpenAIBackend:
    settings = Settings(
        openai_base_url=stub.base_url,
        openai_timeout=overrides.pop("timeout", 5.0),
        openai_api_key=overrides.pop("api_key", None),
        openai_model=overrides.pop("model", None),
        openai_retries=overrides.pop("retries", 2),
    )
    return OpenAIBackend(settings, backoff=0.01, **overrides)


def test_request_shape_selects_the_adapter_by_model_name(stub: StubServer) -> None:
    stub.script.append(chat_reply(ANSWER, ANSWER + "\n", completion_tokens=30))
    backend = make_backend(stub, api_key="sk-test")
    config = GenerationConfig(max_new_tokens=64, temperature=0.7, top_p=0.9, seed=5)

    completions = backend.generate(MESSAGES, mode=Mode.NO_THINK, config=config, n=2, adapter="a1")

    [request] = stub.requests
    assert request.body["model"] == "a1"
    assert request.body["messages"] == MESSAGES
    assert request.body["n"] == 2
    assert request.body["max_tokens"] == 64
    assert request.body["temperature"] == 0.7
    assert request.body["top_p"] == 0.9
    assert request.body["seed"] == 5
    assert request.body["chat_template_kwargs"] == {"enable_thinking": False}
    assert request.headers["authorization"] == "Bearer sk-test"
    assert [c.content for c in completions] == [ANSWER, ANSWER + "\n"]
    assert all(c.prompt_tokens == 11 and c.completion_tokens == 15 for c in completions)
    assert backend.describe("a1") == "base-model+a1"


def test_base_model_is_the_configured_one_or_the_servers_first(stub: StubServer) -> None:
    stub.models = [{"id": "served-first", "owned_by": "vllm"}, {"id": "a1", "owned_by": "vllm"}]
    stub.script += [chat_reply(ANSWER), chat_reply(ANSWER)]
    config = GenerationConfig()

    make_backend(stub).generate(MESSAGES, mode=Mode.NO_THINK, config=config)
    make_backend(stub, model="Qwen/Qwen3-8B").generate(MESSAGES, mode=Mode.NO_THINK, config=config)

    assert [r.body["model"] for r in stub.requests] == ["served-first", "Qwen/Qwen3-8B"]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_from_the_servers_parser(stub: StubServer, field: str) -> None:
    stub.script.append(chat_reply(ANSWER, reasoning=["The divisor is wrong."], reasoning_field=field))
    backend = make_backend(stub, continuation=False)
    config = GenerationConfig(max_new_tokens=100, thinking_budget=50)

    [completion] = backend.generate(MESSAGES, mode=Mode.THINK, config=config)

    [request] = stub.requests
    assert request.body["chat_template_kwargs"] == {"enable_thinking": True}
    assert request.body["max_tokens"] == 150  # no continuation: one shared limit
    assert completion.reasoning == "The divisor is wrong."
    assert completion.content == ANSWER


def test_inline_reasoning_is_split_off(stub: StubServer) -> None:
    stub.script.append(chat_reply("<think>\nOff by one.\n</think>\n\n" + ANSWER, finish="length"))
    backend = make_backend(stub, continuation=False)

    [completion] = backend.generate(MESSAGES, mode=Mode.THINK, config=GenerationConfig())

    assert completion.reasoning == "Off by one."
    assert completion.content == ANSWER
    assert completion.truncated


def test_budget_exhausted_reasoning_is_closed_and_continued(stub: StubServer) -> None:
    stub.script += [
        chat_reply("<think>\nFirst I look at the", finish="length", completion_tokens=8),
        chat_reply(ANSWER, completion_tokens=25),
    ]
    backend = make_backend(stub)  # the stub says it is vLLM
    config = GenerationConfig(max_new_tokens=200, thinking_budget=8, seed=3)

    [completion] = backend.generate(MESSAGES, mode=Mode.THINK, config=config)

    first, second = (r.body for r in stub.requests)
    assert first["max_tokens"] == 8
    assert first["stop"] == ["</think>"]
    assert second["messages"][:-1] == MESSAGES
    assert second["messages"][-1] == {
        "role": "assistant",
        "content": "<think>\nFirst I look at the\n</think>\n\n",
    }
    assert second["continue_final_message"] is True
    assert second["add_generation_prompt"] is False
    assert second["max_tokens"] == 200
    assert second["n"] == 1
    assert completion.budget_forced
    assert completion.reasoning == "First I look at the"
    assert completion.content == ANSWER
    assert completion.completion_tokens == 33


def test_reasoning_closed_in_budget_is_not_forced(stub: StubServer) -> None:
    stub.script += [
        chat_reply("", "", reasoning=["Short A.", "Short B."], finish="stop", completion_tokens=8),
        chat_reply(ANSWER, reasoning=[None]),
        # A reasoning parser that sees no `</think>` may file the answer as reasoning.
        chat_reply("", reasoning=[ANSWER]),
    ]
    backend = make_backend(stub)
    config = GenerationConfig(thinking_budget=64, temperature=0.8)

    completions = backend.generate(MESSAGES, mode=Mode.THINK, config=config, n=2)

    assert [c.reasoning for c in completions] == ["Short A.", "Short B."]
    assert [c.content for c in completions] == [ANSWER, ANSWER]
    assert not any(c.budget_forced for c in completions)
    assert stub.requests[2].body["messages"][-1]["content"] == "<think>\nShort B.\n</think>\n\n"


@pytest.mark.parametrize("status", [503, 429])
def test_transient_errors_are_retried(stub: StubServer, status: int) -> None:
    stub.script += [Reply(status=status, body={"error": {"message": "busy"}}), chat_reply(ANSWER)]

    [completion] = make_backend(stub).generate(MESSAGES, mode=Mode.NO_THINK, config=GenerationConfig())

    assert completion.content == ANSWER
    assert len(stub.requests) == 2


def test_retries_run_out_with_the_servers_message(stub: StubServer) -> None:
    stub.script += [Reply(status=503, body={"error": {"message": "overloaded"}})] * 3

    with pytest.raises(BackendError, match=r"HTTP 503: overloaded"):
        make_backend(stub, retries=2).generate(MESSAGES, mode=Mode.NO_THINK, config=GenerationConfig())
    assert len(stub.requests) == 3


def test_timeout_is_a_backend_error(stub: StubServer) -> None:
    stub.script.append(Reply(body={}, delay=1.0))

    with pytest.raises(BackendError, match="timed out"):
        make_backend(stub, timeout=0.2).generate(MESSAGES, mode=Mode.NO_THINK, config=GenerationConfig())
    assert len(stub.requests) == 1  # a slow generation is not sent again


def test_unauthorised_is_reported_with_the_servers_text(stub: StubServer) -> None:
    stub.script.append(Reply(status=401, body={"error": {"message": "invalid api key"}}))

    with pytest.raises(BackendError, match=r"HTTP 401: invalid api key"):
        make_backend(stub, api_key="wrong").generate(MESSAGES, mode=Mode.NO_THINK, config=GenerationConfig())
    assert len(stub.requests) == 1


def test_unreachable_server_is_a_backend_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(openai_base_url=f"http://127.0.0.1:{port}/v1", openai_retries=1, openai_model="m")
    backend = OpenAIBackend(settings, backoff=0.01)

    with pytest.raises(BackendError, match="cannot reach"):
        backend.generate(MESSAGES, mode=Mode.NO_THINK, config=GenerationConfig())


def test_several_greedy_samples_are_refused(stub: StubServer) -> None:
    with pytest.raises(ValueError, match="temperature"):
        make_backend(stub).generate(MESSAGES, mode=Mode.NO_THINK, config=GenerationConfig(), n=3)
    assert stub.requests == []


def test_load_backend_picks_the_openai_backend(stub: StubServer) -> None:
    backend = load_backend(Settings(engine="openai", openai_base_url=stub.base_url))
    assert isinstance(backend, OpenAIBackend)
    backend.close()
