"""Trajectory generation through the repair loop: mutation teacher, retention rules, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repomend.backends.scripted import ScriptedBackend
from repomend.cli import main
from repomend.contract import prompts
from repomend.contract.conversation import extract_code
from repomend.errors import EXIT_ERROR
from repomend.source import find_method, splice
from sandbox.runner import run_tests
from tests.support.repos import SHAPES_SOURCE, SHAPES_TESTS, make_repo
from training.extract import extract
from training.generate import GenerationOptions, generate
from training.mutation import FIX_TYPES, OPERATORS
from training.records import MethodRecord
from training.teachers import Teacher, TeacherSpec, load_teacher, parse_teacher
from training.trajectory_store import ITEMS_FILE, read_done, read_items

CLAMP = "pkg/stats.py::clamp"
ALTERNATIVE_FIX = prompts.as_code_reply("def clamp(x, low, high):\n    return max(low, min(x, high))")
RETURNS_X = prompts.as_code_reply("def clamp(x, low, high):\n    return x")
RETURNS_LOW = prompts.as_code_reply("def clamp(x, low, high):\n    return low")
FROM_MASKED = GenerationOptions(starts=("generate",))
"""Model teachers start from the masked method only: one unit, one script, per method."""


def scripted(settings, name: str, replies) -> Teacher:
    backend = ScriptedBackend(replies, name=name)
    return load_teacher(TeacherSpec(name=name, kind="student"), settings, backend=backend)


def records_by_id(extraction) -> dict[str, MethodRecord]:
    return {r.id: r for r in extraction.records}


def test_mutation_items_are_rejected_mutants_answered_by_the_ground_truth(
    shapes_extraction, settings, tmp_path
):
    out = tmp_path / "traj"
    summary = generate(
        shapes_extraction.folder,
        [load_teacher(parse_teacher("mutation"), settings)],
        settings=settings,
        options=GenerationOptions(mutants_per_method=1),
        out=out,
        methods=[CLAMP, "pkg/stats.py::Box.largest"],
        progress=False,
    )
    items = read_items(out)
    first = [i for i in items if i["start"] == "mutant" and not i.get("echo")]
    echoes = [i for i in items if i.get("echo")]
    written = [i for i in items if i["start"] == "generate"]
    assert len(first) == len(echoes) == summary.counts["mutation"]["kept"] == 2
    assert len(items) == 6 and len(written) == 2
    records = records_by_id(shapes_extraction)
    repo = Path(shapes_extraction.manifest.repository)
    for item in written:  # from the body removed: the answer is nowhere in the prompt
        record = records[item["method"]]
        assert [m["role"] for m in item["messages"]] == ["system", "user", "assistant"]
        assert item["messages"][:2] == record.opening_messages()
        assert record.body.strip() not in item["messages"][1]["content"]
        assert (item["rule"], item["target"], item["fix_type"]) == ("c", "ground_truth", None)
        assert item["messages"][2]["content"] == record.ground_truth_reply()
    for item in echoes:  # the answer repeats the mutant; the loop's repeat prompt; the fix
        messages = item["messages"]
        assert [m["role"] for m in messages] == ["system", "user", *["assistant", "user"] * 2, "assistant"]
        assert messages[4]["content"] == messages[2]["content"]
        assert messages[5]["content"].startswith(prompts.REPEAT_PROMPT.split("{")[0])
        assert messages[6]["content"] == records[item["method"]].ground_truth_reply()
        assert (item["rule"], item["turns"]) == ("a", 2)
        assert item["fix_type"] == FIX_TYPES[item["operator"]]
    for item in first:
        record = records[item["method"]]
        messages = item["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
        assert messages[:2] == record.opening_messages()
        assert messages[4]["content"] == record.ground_truth_reply()
        assert messages[3]["content"].startswith("Correct the answer. Tests failed:\nTEST_RESULT:\n")
        assert (item["rule"], item["target"], item["teacher"], item["operator"] in OPERATORS) == (
            "a", "ground_truth", "mutation", True
        )  # fmt: skip
        assert item["fix_type"] == FIX_TYPES[item["operator"]]  # the operator says what kind of fix
        # the mutant really fails its tests, and the feedback is that failure
        mutant = extract_code(messages[2]["content"])
        assert mutant != record.method_text
        mutated = splice(SHAPES_SOURCE, find_method(SHAPES_SOURCE, record.qualname), mutant)
        result = run_tests(repo, record.tests, python=sys.executable, overrides={record.path: mutated})
        assert not result.passed
        assert all(f.nodeid in messages[3]["content"] for f in result.failures)


def test_mutants_the_tests_cannot_tell_apart_are_not_kept(shapes_extraction, settings, tmp_path):
    # Box.largest's only off-by-one site is `item > best` -> `item >= best`: the same for its tests
    summary = generate(
        shapes_extraction.folder,
        [load_teacher(parse_teacher("mutation"), settings)],
        settings=settings,
        options=GenerationOptions(operators=("off_by_one",), starts=("mutant",)),
        out=tmp_path / "traj",
        methods=["pkg/stats.py::Box.largest"],
        progress=False,
    )
    assert summary.counts["items"] == 0
    assert summary.counts["mutation"] == {
        "candidates": 1,
        "ground_truth_failed": 0,
        "kept": 0,
        "survived": 1,
        "tried": 1,
    }
    [done] = read_done(tmp_path / "traj").values()
    assert done["status"] == "none_rejected"


def test_retention_rules_and_ground_truth_doubling(shapes_extraction, settings, tmp_path):
    record = records_by_id(shapes_extraction)[CLAMP]
    teachers = [
        scripted(settings, "first-turn", [ALTERNATIVE_FIX]),
        scripted(settings, "second-turn", [RETURNS_X, ALTERNATIVE_FIX]),
        scripted(settings, "never", [RETURNS_X, RETURNS_LOW]),
    ]
    generate(
        shapes_extraction.folder,
        teachers,
        settings=settings,
        options=GenerationOptions(turns=2, starts=("generate",)),
        out=tmp_path / "traj",
        methods=[CLAMP],
        progress=False,
    )
    items = read_items(tmp_path / "traj")
    by = {(i["teacher"], i["target"]): i for i in items}
    assert sorted(by) == [
        ("first-turn", "ground_truth"), ("first-turn", "teacher"), ("never", "ground_truth"),
        ("second-turn", "ground_truth"), ("second-turn", "teacher"),
    ]  # fmt: skip
    opening = record.opening_messages()
    truth = {"role": "assistant", "content": record.ground_truth_reply()}

    # c: fixed by the first answer -> single-turn generation item, and its ground-truth twin
    c = by[("first-turn", "teacher")]
    assert (c["rule"], c["turns"], c["fix_type"]) == ("c", 1, None)  # written anew: no one kind
    assert c["messages"] == [*opening, {"role": "assistant", "content": ALTERNATIVE_FIX}]
    assert by[("first-turn", "ground_truth")]["messages"] == [*opening, truth]

    # a: failed, then fixed -> the conversation up to the fix, with real feedback
    a = by[("second-turn", "teacher")]
    assert (a["rule"], a["turns"], a["fix_type"]) == ("a", 2, "return value")  # `return x` fixed
    assert [m["content"] for m in a["messages"][2:3]] == [RETURNS_X]
    assert a["messages"][3]["content"].startswith("Correct the answer. Tests failed:\nTEST_RESULT:\n")
    assert "test_clamp FAILED" in a["messages"][3]["content"]
    assert a["messages"][4]["content"] == ALTERNATIVE_FIX
    assert by[("second-turn", "ground_truth")]["messages"] == [*a["messages"][:4], truth]

    # b: never fixed -> the last attempt and its feedback, answered by the ground truth
    b = by[("never", "ground_truth")]
    assert (b["rule"], b["turns"]) == ("b", 2)
    assert b["messages"][:3] == [*opening, {"role": "assistant", "content": RETURNS_LOW}]
    assert "test_clamp FAILED" in b["messages"][3]["content"]
    assert b["messages"][4] == truth


def test_a_fix_equal_to_the_ground_truth_is_kept_once(shapes_extraction, settings, tmp_path):
    record = records_by_id(shapes_extraction)[CLAMP]
    reformatted = record.method_text.replace("if x < low:", "if x<low:  # below") + "\n"
    generate(
        shapes_extraction.folder,
        [scripted(settings, "t", [prompts.as_code_reply(reformatted)])],
        settings=settings,
        options=FROM_MASKED,
        out=tmp_path / "traj",
        methods=[CLAMP],
        progress=False,
    )
    [item] = read_items(tmp_path / "traj")
    assert (item["rule"], item["target"]) == ("c", "teacher")


def answer_with_ground_truth(records: dict[str, MethodRecord], asked: list[str], crash_on: str | None = None):
    """A scripted reply that answers each prompt with that method's ground truth."""

    def reply(messages) -> str:
        record = next(r for r in records.values() if messages[:2] == r.opening_messages())
        if record.id == crash_on:
            raise KeyboardInterrupt
        asked.append(record.id)
        return record.ground_truth_reply()

    return reply


def test_resume_after_a_crash_loses_nothing_and_repeats_nothing(shapes_extraction, settings, tmp_path):
    records = records_by_id(shapes_extraction)
    ids = list(records)
    out = tmp_path / "traj"
    asked: list[str] = []
    crashing = scripted(settings, "t", [answer_with_ground_truth(records, asked, crash_on=ids[2])] * 5)
    with pytest.raises(KeyboardInterrupt):
        generate(
            shapes_extraction.folder,
            [crashing],
            settings=settings,
            options=FROM_MASKED,
            out=out,
            progress=False,
        )
    assert asked == ids[:2] and len(read_done(out)) == 2
    before = read_items(out)
    with (out / ITEMS_FILE).open("a") as handle:  # an orphan item and a line cut short by the crash
        handle.write(json.dumps({**before[0], "method": ids[3], "hash": "orphan"}) + "\n")
        handle.write('{"hash": "cut-sh')

    asked.clear()
    teacher = scripted(settings, "t", [answer_with_ground_truth(records, asked)] * 5)
    summary = generate(
        shapes_extraction.folder, [teacher], settings=settings, options=FROM_MASKED, out=out, progress=False
    )
    assert asked == ids[2:]  # finished units are not asked again
    assert (summary.units_skipped, summary.units_run, summary.repaired_lines) == (2, 3, 2)
    items = read_items(out)
    assert items[:2] == before
    assert [i["method"] for i in items] == ids and len({i["hash"] for i in items}) == len(items)
    assert all(i["rule"] == "c" for i in items)


def test_heldout_methods_never_reach_a_teacher(tmp_path, settings):
    repo = make_repo(tmp_path / "shapes", source=SHAPES_SOURCE, tests=SHAPES_TESTS)
    extraction = extract(repo, python=sys.executable, settings=settings, heldout_fraction=0.5, seed=1)
    heldout = {r.id for r in extraction.records if r.split == "heldout"}
    assert heldout and len(heldout) < len(extraction.records)
    records = records_by_id(extraction)
    asked: list[str] = []
    teacher = scripted(settings, "t", [answer_with_ground_truth(records, asked)] * 5)
    generate(extraction.folder, [teacher], settings=settings, options=FROM_MASKED, progress=False)
    assert asked and not heldout & set(asked)
    folder = settings.data_dir / "training" / "shapes" / "trajectories" / extraction.manifest.version
    items = read_items(folder)
    assert {i["method"] for i in items} == set(records) - heldout
    assert {i["split"] for i in items} <= {"train", "validation"}
    # nor does any of their code: the prompts leave the held-out bodies out
    held_out_bodies = [records[i].body.strip() for i in heldout]
    for item in items:
        text = "\n".join(m["content"] for m in item["messages"])
        assert not any(body in text for body in held_out_bodies), item["method"]


def test_killed_run_resumes_from_where_it_stopped(shapes_extraction, tmp_path):
    """A real SIGKILL mid-run: the rerun finishes the rest and the result has no duplicates."""
    out = tmp_path / "traj"
    argv = ["train", "generate", str(shapes_extraction.folder), "--teacher", "mutation",
            "--mutants-per-method", "1", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "REPOMEND_DATA_DIR": str(tmp_path / "data"), "REPOMEND_SANDBOX__ISOLATION": "strict"}
    process = subprocess.Popen(
        [sys.executable, "-m", "repomend.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_done(out)) < 2 and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(read_done(out))
    assert 2 <= done_before < len(shapes_extraction.records), "the run should be killed half-way"

    assert main(argv) == 0
    done = read_done(out)
    items = read_items(out)
    assert {key[1] for key in done} == {r.id for r in shapes_extraction.records}
    assert len({i["hash"] for i in items}) == len(items) == sum(row["items"] for row in done.values())
    assert {i["method"] for i in items} == {r.id for r in shapes_extraction.records}


def test_cli_errors_are_one_line(tmp_path, capsys, shapes_extraction, monkeypatch):
    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path / "data"))
    cases = [
        (["train", "generate", str(tmp_path), "--teacher", "mutation"], "is not an extraction folder"),
        (["train", "generate", str(shapes_extraction.folder), "--teacher", "gpt"], "unknown teacher 'gpt'"),
        (
            [
                "train",
                "generate",
                str(shapes_extraction.folder),
                "--teacher",
                "t=openai:http://h:1/v1:m:NO_SUCH_KEY",
            ],
            "NO_SUCH_KEY is not set",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == EXIT_ERROR
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


ORDER_SOURCE = """CONFIG = {}


def setting(name):
    return CONFIG[name] * 2
"""
ORDER_TESTS = """from pkg.stats import CONFIG, setting


def test_configure():
    CONFIG["size"] = 2


def test_setting():
    assert setting("size") == 4
"""


def test_methods_whose_tests_need_other_tests_yield_nothing(tmp_path, settings):
    """`test_setting` passes in the whole suite (after `test_configure`) but fails on its own."""
    repo = make_repo(tmp_path / "order", source=ORDER_SOURCE, tests=ORDER_TESTS)
    extraction = extract(
        repo, python=sys.executable, settings=settings, heldout_fraction=0, validation_fraction=0
    )
    assert [r.id for r in extraction.records] == ["pkg/stats.py::setting"]
    model = scripted(settings, "t", [])  # would raise if it were ever asked
    mutation = load_teacher(parse_teacher("mutation"), settings)
    summary = generate(extraction.folder, [model, mutation], settings=settings, progress=False)
    assert summary.counts["items"] == 0 and not summary.errors
    assert {row["status"] for row in read_done(summary.folder).values()} == {"ground_truth_failed"}
    assert model.backend.calls == []


def test_model_teacher_can_start_from_a_rejected_mutant(shapes_extraction, settings, tmp_path):
    record = records_by_id(shapes_extraction)[CLAMP]
    teacher = scripted(settings, "t", [ALTERNATIVE_FIX])
    generate(
        shapes_extraction.folder,
        [teacher],
        settings=settings,
        options=GenerationOptions(starts=("mutant",)),
        out=tmp_path / "traj",
        methods=[CLAMP],
        progress=False,
    )
    items = {i["target"]: i for i in read_items(tmp_path / "traj")}
    fixed = items["teacher"]
    assert (fixed["rule"], fixed["start"], fixed["turns"], fixed["operator"] in OPERATORS) == (
        "a",
        "mutant",
        1,
        True,
    )
    messages = fixed["messages"]
    assert messages[:2] == record.opening_messages()
    assert messages[2]["content"] != record.ground_truth_reply()  # the mutant: the failed first answer
    assert "test_clamp FAILED" in messages[3]["content"]
    assert messages[4]["content"] == ALTERNATIVE_FIX
    assert items["ground_truth"]["messages"] == [
        *messages[:4],
        {"role": "assistant", "content": record.ground_truth_reply()},
    ]
    [call] = teacher.backend.calls
    assert call[0] == messages[:4]  # the teacher saw exactly the item's input


def test_model_teachers_start_from_both_forms_by_default_and_a_new_start_adds_only_its_units(
    shapes_extraction, settings, tmp_path
):
    """The product serves both a method with its body removed and a method its tests reject, so
    training data holds both; a folder made from one start grows by the other's units alone."""
    out = tmp_path / "traj"
    first = scripted(settings, "t", [ALTERNATIVE_FIX])
    generate(
        shapes_extraction.folder,
        [first],
        settings=settings,
        options=FROM_MASKED,
        out=out,
        methods=[CLAMP],
        progress=False,
    )
    assert {i["start"] for i in read_items(out)} == {"generate"} and len(first.backend.calls) == 1
    both = scripted(settings, "t", [ALTERNATIVE_FIX])
    summary = generate(
        shapes_extraction.folder, [both], settings=settings, out=out, methods=[CLAMP], progress=False
    )
    assert (summary.units_skipped, summary.units_run) == (1, 1)
    [call] = both.backend.calls
    assert "test_clamp FAILED" in call[0][3]["content"]  # this unit began from a rejected mutant
    items = read_items(out)
    assert {(i["variant"], i["start"]) for i in items} == {("generate", "generate"), ("mutant", "mutant")}
    assert {key[2] for key in read_done(out)} == {"generate", "mutant"}
