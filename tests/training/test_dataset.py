"""Datasets: filtering, de-duplication, think / no-think / hybrid forms, TRL and ShareGPT exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repomend.backends.scripted import ScriptedBackend
from repomend.cli import main
from repomend.contract import prompts
from repomend.contract.conversation import Mode, extract_code, split_reasoning
from repomend.errors import EXIT_ERROR
from repomend.settings import Settings
from training.dataset import DatasetError, DatasetOptions, build_dataset
from training.records import ExtractionManifest, MethodRecord, write_manifest, write_records
from training.storage import write_json
from training.teachers import TeacherSpec, load_teacher
from training.trajectory_store import TrajectoryStore

OPENING = prompts.opening_messages(
    method="f", class_name=None, declaration="def f(x):", docstring=None,
    file_content="def f(x):\n    ...\n", path="m.py", line=0,
)  # fmt: skip
FIX = prompts.as_code_reply("def f(x):\n    return x + 1")
FIX_REFORMATTED = prompts.as_code_reply("def f(x):\n    # add one\n    return x+1")
TRUTH = prompts.as_code_reply("def f(x):\n    return 1 + x")
WRONG = prompts.as_code_reply("def f(x):\n    return x")
FEEDBACK = prompts.iteration_prompt("tests/test_m.py::test_f FAILED - assert 1 == 2\n\n0 passed, 1 failed")


def assistant(content: str) -> dict:
    return {"role": "assistant", "content": content}


def conversation(*turns: str) -> list[dict]:
    """OPENING, then assistant / user turns alternating."""
    messages = list(OPENING)
    for index, text in enumerate(turns):
        messages.append(assistant(text) if index % 2 == 0 else {"role": "user", "content": text})
    return messages


ITEMS = [  # (teacher, method, split, rule, target, messages)
    ("big", "m.py::f", "train", "c", "teacher", conversation(FIX)),
    ("big", "m.py::f", "train", "c", "ground_truth", conversation(TRUTH)),
    ("small", "m.py::g", "validation", "a", "teacher", conversation(WRONG, FEEDBACK, FIX)),
    ("small", "m.py::g", "validation", "a", "ground_truth", conversation(WRONG, FEEDBACK, TRUTH)),
    (
        "small",
        "m.py::h",
        "train",
        "b",
        "ground_truth",
        conversation(WRONG, FEEDBACK, TRUTH.replace("1 + x", "x + 2")),
    ),
    ("other", "m.py::f", "train", "c", "teacher", conversation(FIX_REFORMATTED)),  # same as the first
    ("big", "m.py::secret", "train", "c", "teacher", conversation(FIX.replace("+ 1", "+ 5"))),  # held out
]


def record(method_id: str, split: str) -> MethodRecord:
    return MethodRecord(
        id=method_id, path="m.py", qualname=method_id.split("::")[1], class_name=None,
        declaration="def f(x):", docstring=None, body="    return x", method_text="def f(x):\n    return x",
        masked_file="", tests=["t"], split=split,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def trajectories(tmp_path: Path) -> Path:
    """A trajectory folder as `train generate` writes it, pointing at its extraction."""
    extraction = tmp_path / "extract"
    write_records(extraction, [record("m.py::f", "train"), record("m.py::secret", "heldout")])
    write_manifest(extraction, ExtractionManifest("v1", "/r/demo", None, "python", "now", {}, name="demo"))
    folder = tmp_path / "traj"
    with TrajectoryStore(folder) as store:
        for index, (teacher, method, split, rule, target, messages) in enumerate(ITEMS):
            item = {"hash": f"raw{index}", "teacher": teacher, "method": method, "split": split,
                    "rule": rule, "target": target, "turns": 1, "messages": messages}  # fmt: skip
            store.finish(
                (teacher, method, f"v{index}"), [{**item, "variant": f"v{index}"}], {"status": "fixed"}
            )
    write_json(
        folder / "manifest.json", {"extraction": {"folder": str(extraction), "name": "demo", "version": "v1"}}
    )
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_no_think_dataset_in_trl_and_sharegpt_form(trajectories, settings):
    dataset = build_dataset([trajectories], settings=settings, progress=False)
    folder = dataset.folder
    assert folder == settings.data_dir / "training" / "demo" / "datasets" / dataset.manifest["version"]
    train, validation = lines(folder / "train.jsonl"), lines(folder / "validation.jsonl")
    assert (len(train), len(validation)) == (3, 2)
    for row in train + validation:
        assert list(row) == ["messages"]
        assert [m["role"] for m in row["messages"]][:2] == ["system", "user"]
        for message in row["messages"]:
            if message["role"] == "assistant":
                assert not message["content"].lstrip().startswith("<think>")  # no-think: bare answers
                split = split_reasoning(message["content"])
                assert split.reasoning is None and extract_code(split.content).startswith("def f(x):")
    # the rows are the items' conversations, in order, with nothing else changed
    expected_train = [ITEMS[0][5], ITEMS[1][5], ITEMS[4][5]]
    assert [[m["content"] for m in r["messages"]] for r in train] == [
        [m["content"] for m in messages] for messages in expected_train
    ]
    sharegpt = lines(folder / "train.sharegpt.jsonl")
    assert [[t["from"] for t in row["conversations"]] for row in sharegpt][2] == [
        "system", "human", "gpt", "human", "gpt"
    ]  # fmt: skip
    assert [[t["value"] for t in row["conversations"]] for row in sharegpt] == [
        [m["content"] for m in row["messages"]] for row in train
    ]
    meta = lines(folder / "train.meta.jsonl")
    assert [(m["teacher"], m["rule"], m["target"], m["form"]) for m in meta] == [
        ("big", "c", "teacher", "no-think"), ("big", "c", "ground_truth", "no-think"),
        ("small", "b", "ground_truth", "no-think"),
    ]  # fmt: skip


def test_manifest_counts_what_was_written(trajectories, settings):
    manifest = build_dataset([trajectories], settings=settings, progress=False).manifest
    counts = manifest["counts"]
    assert counts["items_read"] == 7 and counts["items_used"] == 5
    assert counts["dropped"] == {"duplicate": 1, "duplicate_other": 1, "heldout": 1}
    assert counts["rows"] == {"train": 3, "validation": 2}
    assert counts["by_rule"] == {"a": 2, "b": 1, "c": 2}
    assert counts["by_teacher"] == {"big": 2, "small": 3}
    assert counts["by_target"] == {"ground_truth": 3, "teacher": 2}
    assert counts["by_fix_type"] == {"none": 5}  # these items name no fix type
    assert counts["by_rule_and_teacher"]["small"] == {
        "rows": 3, "rule_a": 2, "rule_b": 1, "target_ground_truth": 2, "target_teacher": 1
    }  # fmt: skip
    assert manifest["sources"][0]["extraction"]["version"] == "v1"
    assert manifest["mode"] == "no-think" and manifest["reasoning"] is None


def test_teacher_target_keeps_only_fixes_a_teacher_wrote(trajectories, settings):
    """Rejection sampling: with the student as teacher, only its own passing answers are trained on."""
    options = DatasetOptions(targets=("teacher",))
    dataset = build_dataset([trajectories], settings=settings, options=options, progress=False)
    train, validation = lines(dataset.folder / "train.jsonl"), lines(dataset.folder / "validation.jsonl")
    assert [r["messages"][-1]["content"] for r in train + validation] == [FIX, FIX]
    assert [m["content"] for m in validation[0]["messages"]][-3:] == [WRONG, FEEDBACK, FIX]  # rule a
    counts = dataset.manifest["counts"]
    assert counts["by_target"] == {"teacher": 2} and counts["dropped"]["target_ground_truth"] == 3
    assert dataset.manifest["targets"] == ["teacher"]
    with pytest.raises(DatasetError, match="targets must be"):
        build_dataset([trajectories], settings=settings, options=DatasetOptions(targets=("oracle",)))  # type: ignore[arg-type]


def test_same_sources_same_version(trajectories, settings, tmp_path):
    first = build_dataset([trajectories], settings=settings, progress=False)
    second = build_dataset([trajectories], settings=settings, progress=False, out=tmp_path / "copy")
    assert first.manifest["version"] == second.manifest["version"]
    assert (first.folder / "train.jsonl").read_bytes() == (second.folder / "train.jsonl").read_bytes()


def reasoning_teacher(settings: Settings, compress_to: str | None = None):
    """Reasons about whatever it was shown; `compress_to` answers the compression requests."""

    def reply(messages) -> str:
        prompt = messages[-1]["content"]
        if prompt.startswith("Shorten the following reasoning"):
            return compress_to or ""
        kind = "repair" if "A previous answer was:" in prompt else "generate"
        return f"<think>\nStep one of {kind}: look at the tests. Step two: add one to x.\n</think>\n\nok"

    backend = ScriptedBackend([reply] * 20, name="reasoner")
    return load_teacher(TeacherSpec(name="reasoner", kind="student"), settings, backend=backend), backend


def test_think_items_carry_elicited_reasoning_before_the_last_answer(trajectories, settings):
    teacher, backend = reasoning_teacher(settings)
    dataset = build_dataset(
        [trajectories], settings=settings, options=DatasetOptions(mode="think"), reasoning_teacher=teacher,
        progress=False,
    )  # fmt: skip
    rows = lines(dataset.folder / "validation.jsonl")
    last = rows[0]["messages"][-1]["content"]
    assert last.startswith(
        "<think>\nStep one of repair: look at the tests. Step two: add one to x.\n</think>\n\n"
    )
    split = split_reasoning(last)
    assert split.reasoning == "Step one of repair: look at the tests. Step two: add one to x."
    assert split.content == FIX
    assert rows[0]["messages"][2]["content"] == WRONG  # history answers: no reasoning, no block
    # minimal intervention: the teacher saw task, failed attempt, feedback and answer, in think mode
    asked, mode = backend.calls[2][0], backend.calls[2][1]
    assert mode is Mode.THINK
    shown = asked[-1]["content"]
    assert OPENING[1]["content"] in shown and "def f(x):\n    return x\n" in shown
    assert "test_f FAILED" in shown and "def f(x):\n    return x + 1" in shown
    first_train = lines(dataset.folder / "train.jsonl")[0]["messages"][-1]["content"]
    assert "Step one of generate" in first_train  # a generation item: no attempt to show
    assert dataset.manifest["reasoning"]["items"] == 5 and dataset.manifest["counts"]["by_form"] == {
        "think": 5
    }


def test_reasoning_is_cached_so_a_rebuild_asks_nothing(trajectories, settings):
    teacher, backend = reasoning_teacher(settings)
    options = DatasetOptions(mode="think")
    first = build_dataset(
        [trajectories], settings=settings, options=options, reasoning_teacher=teacher, progress=False
    )
    calls = len(backend.calls)
    again = build_dataset(
        [trajectories], settings=settings, options=options, reasoning_teacher=teacher, progress=False
    )
    assert len(backend.calls) == calls == 5
    assert again.manifest["version"] == first.manifest["version"]


def test_compressed_reasoning_replaces_the_long_one(trajectories, settings):
    teacher, _ = reasoning_teacher(settings, compress_to="Add one to x.")
    dataset = build_dataset(
        [trajectories], settings=settings, options=DatasetOptions(mode="think", compress=True),
        reasoning_teacher=teacher, progress=False,
    )  # fmt: skip
    for row in lines(dataset.folder / "train.jsonl"):
        assert split_reasoning(row["messages"][-1]["content"]).reasoning == "Add one to x."
    stats = dataset.manifest["reasoning"]
    assert stats["mean_tokens"] < stats["mean_tokens_before_compression"]


def test_hybrid_interleaves_both_forms_of_each_item(trajectories, settings):
    teacher, _ = reasoning_teacher(settings)
    dataset = build_dataset(
        [trajectories], settings=settings, options=DatasetOptions(mode="hybrid"), reasoning_teacher=teacher,
        progress=False,
    )  # fmt: skip
    meta = lines(dataset.folder / "train.meta.jsonl")
    rows = lines(dataset.folder / "train.jsonl")
    assert [m["form"] for m in meta] == ["no-think", "think"] * 3
    for index in range(0, len(rows), 2):
        assert meta[index]["hash"] == meta[index + 1]["hash"]
        plain, thought = rows[index]["messages"][-1]["content"], rows[index + 1]["messages"][-1]["content"]
        assert not plain.startswith("<think>") and split_reasoning(thought).reasoning
        assert split_reasoning(plain).content == split_reasoning(thought).content
    assert dataset.manifest["counts"]["by_form"] == {"no-think": 5, "think": 5}


def test_exports_load_as_trl_conversational_data(trajectories, settings):
    import datasets
    from trl.data_utils import is_conversational

    folder = build_dataset([trajectories], settings=settings, progress=False).folder
    loaded = datasets.load_dataset("json", data_files={"train": str(folder / "train.jsonl")})["train"]
    assert loaded.num_rows == 3 and all(is_conversational(row) for row in loaded)


def test_think_without_a_teacher_is_refused(trajectories, settings):
    with pytest.raises(DatasetError, match="needs --reasoning-teacher"):
        build_dataset([trajectories], settings=settings, options=DatasetOptions(mode="think"))


def test_cli_builds_and_reports(trajectories, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path / "data"))
    assert main(["train", "dataset", str(trajectories)]) == 0
    out = capsys.readouterr().out
    assert "train 3 rows, validation 2 rows from 5 items" in out
    assert (Path(out.rsplit("written to ", 1)[1].strip()) / "manifest.json").is_file()
    assert main(["train", "dataset", str(trajectories), "--target", "teacher"]) == 0
    assert "train 1 rows, validation 1 rows from 2 items" in capsys.readouterr().out
    assert main(["train", "dataset", str(trajectories), "--mode", "think"]) == EXIT_ERROR
    assert "needs --reasoning-teacher" in capsys.readouterr().err
    assert main(["train", "dataset", str(tmp_path / "nope")]) == EXIT_ERROR
