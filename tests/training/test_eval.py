"""Held-out evaluation with scripted models: Pass@k arithmetic, parallel test runs, the benchmark's
broken inputs, report files and the `repomend eval` command."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from repomend.contract import prompts
from repomend.contract.conversation import Mode
from repomend.loop import RepairOptions
from sandbox.results import RunResult, TestResult
from tests.support.heldout import HELDOUT, ByAdapter, fixer, ground_truth, heldout_extraction
from tests.support.sft_datasets import tiny_chat_model
from training.benchmark import Benchmark, BenchmarkItem
from training.evaluate import BASE, EvalReport, ModelUnderTest, evaluate, run_cell, summarize
from training.normalize import normalize_code
from training.report import write_report

__all__ = ["tiny_chat_model"]


class FakeSandbox:
    """Passes a file iff its target method is the ground truth; counts how many runs overlap."""

    def __init__(self, qualnames: dict[str, str], seconds: float = 0.0) -> None:
        self.qualnames = qualnames  # path of the override -> qualname (one method per item here)
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.runs = 0

    def __call__(self, repo, test_ids, *, overrides):
        from repomend.source import find_method, method_text

        with self.lock:
            self.running += 1
            self.runs += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.seconds)
            [(path, source)] = overrides.items()
            qualname = self.qualnames[path]
            answer = method_text(source, find_method(source, qualname))
            ok = normalize_code(answer) == normalize_code(ground_truth(qualname))
            outcome, exc = ("passed", None) if ok else ("failed", "AssertionError")
            return RunResult(tests=[TestResult(test_ids[0], outcome, exception_type=exc)])
        finally:
            with self.lock:
                self.running -= 1

    @contextlib.contextmanager
    def borrow(self):
        yield self


def broken_items() -> tuple[list[BenchmarkItem], dict[str, str]]:
    """Each held-out method of the sample project broken by a wrong return, each in its own file."""
    from repomend.source import find_method, splice
    from tests.support.repos import SHAPES_SOURCE

    items, paths = [], {}
    for index, (method_id, tests) in enumerate(HELDOUT.items()):
        qualname = method_id.split("::")[1]
        truth = ground_truth(qualname)
        broken = truth.split("\n", 1)[0] + "\n    return 12345"
        source = splice(SHAPES_SOURCE, find_method(SHAPES_SOURCE, qualname), broken)
        path = f"pkg/m{index}.py"
        paths[path] = qualname
        item = BenchmarkItem(method_id, path, qualname, tests, "mutant", source, truth, "wrong_return")
        items.append(replace(item, broken_method=broken))
    return items, paths


FIX_TURNS = {"clamp": 1, "Box.largest": 3, "scale": None, "Box.count": 2}


def test_pass_at_k_counts_methods_fixed_within_k_turns(tmp_path):
    items, paths = broken_items()
    sandbox = FakeSandbox(paths)
    options = RepairOptions(mode=Mode.NO_THINK, max_turns=4)
    methods = run_cell(
        Benchmark(items, 0, "mutant"),
        tmp_path,
        fixer(FIX_TURNS),
        options,
        sandbox.borrow,
        workers=2,
        count_tokens=lambda text: len(text.split()),
    )
    assert [m["fixed_at"] for m in methods] == [1, 3, None, 2]
    summary = summarize(methods, items, turns=4, mode=Mode.NO_THINK)
    assert summary["pass_at"] == {"1": 0.25, "2": 0.5, "3": 0.75, "4": 0.75}
    assert summary["fixed"] == 3 and summary["n"] == 4
    assert summary["exact_match"] == 0.75  # the fixed ones answer the ground truth itself
    assert summary["failures"] == {"AssertionError": 1}
    assert summary["codebleu"]["codebleu"] < 1.0
    assert [m["codebleu"] for m in methods][:2] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert "reasoning" not in summary
    assert [m["turns"] for m in methods] == [1, 3, 4, 2]
    by_kind = summary["by_fix_type"]  # every item is a wrong return, whose fix is the return value
    assert by_kind == {"return value": {"n": 4, "fixed": 3, "pass_at": summary["pass_at"]}}
    whole = replace(items[0], start="generate", operator=None)
    assert (whole.fix_type, replace(items[0], operator=None).fix_type) == ("body removed", "other")


def test_think_mode_reports_reasoning_length(tmp_path):
    items, paths = broken_items()
    options = RepairOptions(mode=Mode.THINK, max_turns=2)
    methods = run_cell(
        Benchmark(items[:1], 0, "mutant"),
        tmp_path,
        fixer({"clamp": 2}, think="check the lower bound first"),
        options,
        FakeSandbox(paths).borrow,
        workers=1,
        count_tokens=lambda text: 2 * len(text.split()),
    )
    summary = summarize(methods, items[:1], turns=2, mode=Mode.THINK)
    assert methods[0]["reasoning_words"] == [5, 5]
    assert summary["reasoning"]["mean_words"] == 5 and summary["reasoning"]["mean_tokens"] == 10
    assert summary["pass_at"] == {"1": 0.0, "2": 1.0}


def test_methods_run_their_tests_in_parallel(tmp_path):
    items, paths = broken_items()
    options = RepairOptions(mode=Mode.NO_THINK, max_turns=1)
    timings = {}
    for workers in (1, 4):
        sandbox = FakeSandbox(paths, seconds=0.3)
        started = time.perf_counter()
        run_cell(
            Benchmark(items, 0, "mutant"),
            tmp_path,
            fixer(FIX_TURNS),
            options,
            sandbox.borrow,
            workers=workers,
            count_tokens=len,
        )
        timings[workers] = time.perf_counter() - started
        # Per method the ground truth's run (the reference), the broken method's, the answer's;
        # and the second run of the one fixed answer.
        assert sandbox.runs == 13
        assert (sandbox.most_at_once == 1) if workers == 1 else (sandbox.most_at_once >= 2)
    assert timings[4] < timings[1] / 2


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """The sample project's held-out methods, broken by real mutants in the real sandbox; a base
    model that fixes on turn 2 and an adapter that fixes on turn 1, in both modes."""
    from repomend.settings import SandboxSettings, Settings

    root = tmp_path_factory.mktemp("eval")
    extraction = heldout_extraction(root)
    settings = Settings(
        data_dir=root / "data", sandbox=SandboxSettings(isolation="strict", wall_seconds=60), _env_file=None
    )
    base = fixer(dict.fromkeys(("clamp", "Box.largest", "scale", "Box.count"), 2), think="base thinks")
    tuned = fixer(dict.fromkeys(("clamp", "Box.largest", "scale", "Box.count"), 1), think="short")
    backend = ByAdapter({None: base, "tuned-adapter": tuned})
    report = evaluate(
        extraction,
        [ModelUnderTest(BASE), ModelUnderTest("tuned", "tuned-adapter")],
        [Mode.NO_THINK, Mode.THINK],
        settings=settings,
        backend=backend,
        turns=2,
        workers=2,
        limit=2,
        progress=False,
        count_tokens=lambda text: len(text.split()),
    )
    return {"report": report, "base": base, "tuned": tuned, "root": root}


def test_evaluation_compares_models_and_modes_on_the_same_broken_methods(evaluated):
    report: EvalReport = evaluated["report"]
    items = report.data["benchmark"]["items"]
    assert len(items) == 2 and report.data["benchmark"]["counts"]["methods"] == 2
    for item in items:
        assert item["start"] == "mutant" and item["operator"]
        assert normalize_code(item["broken_method"]) != normalize_code(item["ground_truth"])
    for mode in ("no-think", "think"):
        assert report.pass_at(BASE, mode, 1) == 0.0 and report.pass_at(BASE, mode, 2) == 1.0
        assert report.pass_at("tuned", mode, 1) == 1.0
    assert report.cell("tuned", "think")["reasoning"]["mean_words"] == 1
    assert report.cell(BASE, "think")["reasoning"]["mean_words"] == 2
    # every model saw exactly the stored broken method as its starting point
    broken = {item["qualname"]: item["broken_method"] for item in items}
    for backend in (evaluated["base"], evaluated["tuned"]):
        for messages, _, _, _ in backend.calls:
            start = messages[2]["content"]
            assert any(prompts.history_code(text) == start for text in broken.values())
    assert report.data["models"]["tuned"] == {"adapter": "tuned-adapter"}
    # Pass@k counts turns of one answer each, though the llama.cpp engine serves two a turn
    assert report.data["config"]["samples_per_turn"] == 1 and report.data["config"]["engine"] == "llamacpp"


def test_report_files(evaluated):
    report: EvalReport = evaluated["report"]
    paths = write_report(report, evaluated["root"] / "out")
    assert EvalReport.read(paths["json"]).data == json.loads(report.to_json())
    text = paths["markdown"].read_text()
    assert "| base | no-think | 0.0% | 100.0% |" in text
    assert "| tuned | think | 100.0% | 100.0% |" in text
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(paths["json"].parent.glob(".*tmp*"))


def test_replayed_benchmark_gives_the_same_inputs(evaluated):
    from repomend.source import find_method, method_text
    from training.benchmark import BenchmarkError

    report: EvalReport = evaluated["report"]
    repo = Path(report.data["extraction"]["repository"])
    stored = report.data["benchmark"]
    assert all("source" not in item and len(item["source_sha256"]) == 64 for item in stored["items"])
    benchmark = Benchmark.from_dict(stored, repo)
    assert benchmark.to_dict() == stored
    for item in benchmark.items:
        assert method_text(item.source, find_method(item.source, item.qualname)) == item.broken_method
    path = repo / stored["items"][0]["path"]
    path.write_text(path.read_text() + "\n# edited\n")
    with pytest.raises(BenchmarkError, match="changed since"):
        Benchmark.from_dict(stored, repo)


def test_eval_command_with_a_tiny_adapter(tiny_gguf, tmp_path, monkeypatch):
    """On the default engine (llama.cpp; the model folder and the adapter converted to GGUF), a random
    tiny model never writes code: every method ends unfixed as "no code block"."""
    from repomend.cli import main
    from tests.support.adapter_folders import write_manifest
    from tests.support.tiny_models import build_adapter

    tiny_chat_model = tiny_gguf.folder
    extraction = heldout_extraction(tmp_path)
    adapter = tmp_path / "adapters" / "shapes-v1"
    build_adapter(tiny_chat_model, adapter)
    write_manifest(adapter, str(tiny_chat_model))
    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPOMEND_MAX_NEW_TOKENS", "8")
    code = main(["eval", str(extraction), "--adapter", str(adapter), "--turns", "1", "--limit", "1"])
    assert code == 0
    report = EvalReport.read(adapter / "eval_report.json")
    assert report.data["config"]["model"] == str(tiny_chat_model)  # taken from the adapter's manifest
    assert report.data["config"]["engine"] == "llamacpp"
    assert report.cell("shapes-v1", "no-think")["failures"] == {"no code block": 1}
    assert report.pass_at(BASE, "no-think", 1) == 0.0
    assert (adapter / "eval_report.md").is_file() and (adapter / "pass_at.png").is_file()
    assert main(["eval", str(extraction), "--adapter", str(tmp_path / "missing")]) == 2
    assert main(["eval", str(extraction), "--modes", "sometimes"]) == 2


def test_unknown_extraction_is_a_clear_error(tmp_path):
    from repomend.settings import Settings
    from training.evaluate import EvaluationError

    with pytest.raises(EvaluationError, match="not an extraction folder"):
        evaluate(tmp_path, [ModelUnderTest(BASE)], settings=Settings(data_dir=tmp_path, _env_file=None))


def test_cancelling_stops_the_cell(tmp_path):
    from repomend.loop import RepairCancelled

    items, paths = broken_items()
    sandbox = FakeSandbox(paths)
    with pytest.raises(RepairCancelled):
        run_cell(
            Benchmark(items, 0, "mutant"),
            tmp_path,
            fixer(FIX_TURNS),
            RepairOptions(mode=Mode.NO_THINK, max_turns=4),
            sandbox.borrow,
            workers=2,
            count_tokens=len,
            should_cancel=lambda: sandbox.runs >= 2,
        )
    assert sandbox.runs < 8


def test_a_cell_measured_before_is_read_from_the_cache(tmp_path):
    """A retraining job measures what serves now and the served base on every run: with the same
    broken methods, settings and adapter weights, the stored cell is the measurement; new adapter
    weights are measured again."""
    from repomend.settings import SandboxSettings, Settings

    extraction = heldout_extraction(tmp_path)
    sandbox = SandboxSettings(isolation="strict", wall_seconds=60)
    settings = Settings(data_dir=tmp_path / "data", sandbox=sandbox, _env_file=None)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights 1")
    base = fixer(dict.fromkeys(("clamp", "Box.largest", "scale", "Box.count"), 2))
    tuned = fixer(dict.fromkeys(("clamp", "Box.largest", "scale", "Box.count"), 1))
    backend = ByAdapter({None: base, str(adapter): tuned})
    models = [ModelUnderTest(BASE), ModelUnderTest("tuned", str(adapter))]

    def run() -> EvalReport:
        return evaluate(extraction, models, settings=settings, backend=backend, turns=2, limit=1,
                        progress=False, count_tokens=len, cache=tmp_path / "cache")  # fmt: skip

    first = run()
    calls = (len(base.calls), len(tuned.calls))
    assert calls[0] > 0 and calls[1] > 0
    second = run()
    assert (len(base.calls), len(tuned.calls)) == calls  # nothing was asked of either model again
    for name in (BASE, "tuned"):
        assert second.cell(name, "no-think")["cached"]
        assert second.pass_at(name, "no-think", 1) == first.pass_at(name, "no-think", 1)
        assert second.cell(name, "no-think")["methods"] == first.cell(name, "no-think")["methods"]
    assert second.pass_at("tuned", "no-think", 1) == 1.0 and second.pass_at(BASE, "no-think", 1) == 0.0

    (adapter / "adapter_model.safetensors").write_bytes(b"weights 2")  # a new adapter in the same folder
    third = run()
    assert len(base.calls) == calls[0] and len(tuned.calls) > calls[1]
    assert "cached" not in third.cell("tuned", "no-think") and third.cell(BASE, "no-think")["cached"]

    # another sampling seed is another measurement: turns after the first draw other answers
    reseeded = evaluate(extraction, models, settings=settings.model_copy(update={"seed": 1}),
                        backend=backend, turns=2, limit=1, progress=False, count_tokens=len,
                        cache=tmp_path / "cache")  # fmt: skip
    assert "cached" not in reseeded.cell(BASE, "no-think") and reseeded.data["config"]["sampling_seed"] == 1
