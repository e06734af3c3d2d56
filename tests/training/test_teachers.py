"""Teachers by name: inline OpenAI-compatible specs, a TOML file, and one really answering."""

from __future__ import annotations

import pytest

from repomend.contract.conversation import Mode
from repomend.settings import Settings
from tests.support.model import StubServer, chat_reply
from training.dataset import DatasetOptions, build_dataset
from training.generate import GenerationOptions, generate
from training.teachers import TeacherError, TeacherSpec, load_teacher, parse_teacher, read_teachers_file
from training.trajectory_store import read_done, read_items


def test_inline_spec_with_port_path_slashed_model_and_key_variable():
    spec = parse_teacher("big=openai:https://gpu.example:8000/v1:Qwen/Qwen3-8B:TEACHER_KEY")
    assert spec == TeacherSpec(
        name="big",
        kind="openai",
        url="https://gpu.example:8000/v1",
        model="Qwen/Qwen3-8B",
        api_key_env="TEACHER_KEY",
    )
    local = parse_teacher("local=openai:http://127.0.0.1:11434/v1:qwen3:8b")
    assert (local.url, local.model, local.api_key_env) == ("http://127.0.0.1:11434/v1", "qwen3:8b", None)


def test_builtin_and_unknown_names():
    assert parse_teacher("mutation").kind == "mutation"
    assert parse_teacher("student").kind == "student"
    with pytest.raises(TeacherError, match=r"unknown teacher 'gpt'.*known: student, mutation, big"):
        parse_teacher("gpt", {"big": TeacherSpec("big", "openai", "http://h/v1", "m")})


def test_a_local_teacher_is_a_model_on_this_machine_named_by_the_catalogue_or_a_path():
    assert parse_teacher("local:qwen2.5-coder-1.5b") == TeacherSpec(
        name="local:qwen2.5-coder-1.5b", kind="local", model="qwen2.5-coder-1.5b"
    )
    by_path = parse_teacher("local:/models/coder/q4.gguf")
    assert (by_path.name, by_path.model) == ("local:q4.gguf", "/models/coder/q4.gguf")  # a name, not a path
    with pytest.raises(TeacherError, match="expected local:MODEL"):
        parse_teacher("local:")


def test_teachers_file(tmp_path):
    path = tmp_path / "teachers.toml"
    path.write_text(
        '[teachers.big]\nurl = "http://h:1/v1"\nmodel = "m"\napi_key_env = "K"\nmode = "think"\n\n'
        '[teachers.tuned]\nkind = "student"\nadapter = "v3"\n'
    )
    specs = read_teachers_file(path)
    assert specs["big"] == TeacherSpec("big", "openai", "http://h:1/v1", "m", "K", mode="think")
    assert specs["tuned"].adapter == "v3" and parse_teacher("tuned", specs) is specs["tuned"]
    path.write_text('[teachers.bad]\nurl = "http://h/v1"\n')
    with pytest.raises(TeacherError, match="needs `url` and `model`"):
        read_teachers_file(path)
    path.write_text('[teachers.coder]\nkind = "local"\n')
    with pytest.raises(TeacherError, match="needs `model`"):
        read_teachers_file(path)
    path.write_text('[teachers.coder]\nkind = "local"\nmodel = "qwen2.5-coder-1.5b"\nmode = "think"\n')
    assert read_teachers_file(path)["coder"] == TeacherSpec(
        "coder", "local", model="qwen2.5-coder-1.5b", mode=Mode.THINK
    )
    path.write_text('[teachers.bad]\nurl = "http://h/v1"\nmodel = "m"\napi_key = "sk-secret"\n')
    with pytest.raises(TeacherError, match="unknown keys: api_key"):
        read_teachers_file(path)


def stub_teacher(model_stub: StubServer, settings: Settings, monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sk-test")
    spec = parse_teacher(f"remote=openai:{model_stub.base_url}:served-model:STUB_KEY")
    return load_teacher(spec, settings)


def test_openai_teacher_runs_the_loop(model_stub, shapes_extraction, settings, tmp_path, monkeypatch):
    model_stub.reset()
    [record] = [r for r in shapes_extraction.records if r.qualname == "scale"]
    model_stub.script.append(chat_reply(record.ground_truth_reply()))
    teacher = stub_teacher(model_stub, settings, monkeypatch)
    generate(
        shapes_extraction.folder,
        [teacher],
        settings=settings,
        options=GenerationOptions(starts=("generate",)),
        out=tmp_path / "t",
        methods=[record.id],
        progress=False,
    )
    [item] = read_items(tmp_path / "t")
    assert (item["teacher"], item["rule"], item["model"]) == ("remote", "c", "served-model")
    [request] = model_stub.requests
    assert request.body["model"] == "served-model" and request.headers["authorization"] == "Bearer sk-test"
    assert request.body["messages"] == record.opening_messages()


def test_openai_teacher_writes_reasoning(model_stub, shapes_extraction, settings, tmp_path, monkeypatch):
    model_stub.reset()
    [record] = [r for r in shapes_extraction.records if r.qualname == "scale"]
    model_stub.script.append(chat_reply(record.ground_truth_reply()))
    teacher = stub_teacher(model_stub, settings, monkeypatch)
    generate(
        shapes_extraction.folder,
        [teacher],
        settings=settings,
        options=GenerationOptions(starts=("generate",)),
        out=tmp_path / "t",
        methods=[record.id],
        progress=False,
    )
    model_stub.requests.clear()
    model_stub.models = [{"id": "served-model", "owned_by": "someone"}]  # not vLLM: one call per reasoning
    model_stub.script.append(chat_reply("", reasoning=["Each value is multiplied by the factor."]))
    dataset = build_dataset(
        [tmp_path / "t"], settings=settings, options=DatasetOptions(mode="think"), reasoning_teacher=teacher,
        progress=False,
    )  # fmt: skip
    [request] = model_stub.requests
    assert request.body["chat_template_kwargs"] == {"enable_thinking": True}
    row = (dataset.folder / "train.jsonl").read_text()
    assert "<think>\\nEach value is multiplied by the factor.\\n</think>" in row


def test_a_locked_backend_tells_the_loop_its_context_like_the_model_it_wraps():
    """The loop cuts conversations by these two answers; a wrapper that hid them would let a long
    repair outgrow the engine."""
    from repomend.backends.scripted import ScriptedBackend
    from repomend.contract.conversation import Mode
    from training.teachers import LockedBackend

    class Sized(ScriptedBackend):
        def context_size(self):
            return 100

        def count_prompt_tokens(self, messages, mode):
            return 7 * len(messages)

    locked = LockedBackend(Sized([]))
    assert locked.context_size() == 100
    assert locked.count_prompt_tokens([{"role": "user", "content": "x"}], Mode.NO_THINK) == 7


def test_a_local_teacher_runs_the_loop_through_the_local_engine(tiny_gguf, shapes_extraction, tmp_path):
    """Even a server that reaches its own model over HTTP runs a local teacher through llama.cpp:
    the teacher needs no network. The tiny model's random weights fix nothing; the unit still
    runs to its end and is recorded."""
    from tests.support.settings import sandbox_settings

    settings = sandbox_settings(tmp_path / "data").model_copy(
        update={"engine": "openai", "context_size": 2048, "threads": 1, "max_new_tokens": 16}
    )
    teacher = load_teacher(parse_teacher(f"local:{tiny_gguf.gguf}"), settings)
    try:
        from repomend.backends.llamacpp_backend import LlamaCppBackend

        assert isinstance(teacher.backend.inner, LlamaCppBackend)
        summary = generate(
            shapes_extraction.folder,
            [teacher],
            settings=settings,
            options=GenerationOptions(turns=1, starts=("generate",)),
            out=tmp_path / "traj",
            methods=["pkg/stats.py::scale"],
            progress=False,
        )
    finally:
        teacher.close()
    assert (summary.units_run, summary.errors) == (1, [])
    [done] = read_done(tmp_path / "traj").values()
    assert done["status"] in ("fixed", "unfixed")
