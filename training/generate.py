"""Trajectory generation: teachers run the repair loop on every training method.

The loop is `repomend.loop.repair`, the same one that serves users, so every training item has
the exact messages the model sees at serve time. Per (teacher, method):
  - a model teacher starts from the masked method (`"generate"`: the first turn is the
    generation prompt) and from a mutant the tests reject (`"mutant"`: the mutant is the failed
    first answer), each a unit of its own (`GenerationOptions.starts`, both by default: the two
    forms the product serves), and has up to `turns` turns with test feedback;
  - the mutation teacher runs the loop on each mutant of the method that the covering tests
    reject, with a scripted model that answers the ground truth: the item is
    [system, first-turn prompt, mutant, TEST_RESULT of the mutant, ground truth], and the
    ground truth is checked to pass on the way. With `echo_items`, each kept mutant also gives
    the conversation in which the answer repeats the mutant and the loop's repeat prompt follows,
    answered by the ground truth. When `starts` holds `"generate"`, it also writes each method
    from its body removed, answered by the ground truth (a single-turn generation item, whose
    answer is nowhere in its prompt).
Only train and validation methods are used; held-out methods never reach a teacher.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from repomend.backends.base import BackendError
from repomend.backends.scripted import ScriptedBackend
from repomend.contract import prompts
from repomend.contract.conversation import Mode, NoCodeBlock, extract_code
from repomend.contract.verdict import Reference, judge
from repomend.fix_types import fix_type
from repomend.loop import (
    RESAMPLES,
    RepairCancelled,
    RepairOptions,
    RepairRequest,
    TestRunner,
    repair,
    sandbox_test_runner,
)
from repomend.settings import Settings
from repomend.source import SourceError, find_method, method_text, prompt_view
from repomend.trajectory import Status, Trajectory
from sandbox.results import RunResult
from training.errors import GenerationError
from training.mutation import FIX_TYPES, OPERATORS, in_trial_order, mutants
from training.records import ExtractionManifest, MethodRecord, read_manifest, read_records
from training.retention import Retained, retain
from training.storage import short_hash, trajectories_dir, write_json
from training.teachers import Teacher
from training.trajectory_store import CONFIG_FILE, MANIFEST_FILE, Key, TrajectoryStore, read_config, summarize

if TYPE_CHECKING:
    from sandbox.warm import WarmRunner

Start = Literal["generate", "mutant"]
TRAINING_SPLITS = ("train", "validation")


@dataclass(frozen=True)
class GenerationOptions:
    turns: int = 5
    starts: tuple[Start, ...] = ("generate", "mutant")
    """Where model teachers begin, one unit per start: the masked method, a mutant the tests reject."""
    mutants_per_method: int = 3
    """Mutants the mutation teacher keeps per method (each becomes one item)."""
    max_mutant_trials: int = 12
    """Mutants tried per method at most (each costs a sandbox run)."""
    operators: tuple[str, ...] = OPERATORS
    workers: int = 1
    seed: int = 0
    warm: bool = True
    """Run tests through pre-started sandboxes (sandbox.WarmRunner), one per worker."""
    max_consecutive_errors: int = 5
    """Stop when this many units in a row fail in the model backend (a dead endpoint)."""
    echo_items: bool = True
    """The mutation teacher also answers each kept mutant first with the mutant itself, as a small
    model most often does, so the item teaches the fix after the loop's repeat prompt."""


@dataclass
class GenerationSummary:
    folder: Path
    units_total: int
    units_skipped: int
    """Already done in an earlier run (resume)."""
    units_run: int = 0
    items_written: int = 0
    errors: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    """Methods whose file changed since extraction (not used)."""
    repaired_lines: int = 0
    """Lines a crashed earlier run left behind and that were dropped."""
    counts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    teacher: Teacher
    record: MethodRecord
    variant: str

    @property
    def key(self) -> Key:
        return (self.teacher.name, self.record.id, self.variant)


@dataclass
class UnitResult:
    items: list[dict]
    summary: dict


class UnitNotRun(Exception):
    """The unit could not be judged this time (the tests ran out of time); it is not marked done."""


def ground_truth_fails(repo: Path, record: MethodRecord, source: str, run: TestRunner) -> bool:
    """Whether the original method fails its covering tests when they run on their own.

    Tests that pass in the whole suite may depend on others (order, shared state); such a
    method cannot judge a repair, and pairing an answer with its ground truth would teach
    nothing true. The result is memoised, so every teacher shares one run per method.
    """
    result = run(repo, record.tests, overrides={record.path: source})
    if result.timed_out:
        raise UnitNotRun(f"the tests of {record.id} ran past the time limit")
    return not judge(result, Reference.of(result, "the ground truth")).passed


def ground_truth_run(repo: Path, record: MethodRecord, source: str, run: TestRunner) -> RunResult:
    """The reference every answer of a unit is judged against (memoised: already run once)."""
    return run(repo, record.tests, overrides={record.path: source})


def variants_for(teacher: Teacher, starts: Sequence[Start]) -> list[str]:
    """The units of one method for this teacher: one per start; the mutation teacher's mutants,
    and the body removed when that is a start."""
    if teacher.backend is None:
        return ["mutants", *(["generate"] if "generate" in starts else [])]
    return list(starts)


def current_source(repo: Path, record: MethodRecord) -> str | None:
    """The file as extracted, or None when it changed since (the record would no longer match)."""
    try:
        source = (repo / record.path).read_text(encoding="utf-8")
        method = find_method(source, record.qualname)
        if (
            method_text(source, method) != record.method_text
            or prompt_view(source, record.qualname, record.hidden_bodies)[0] != record.masked_file
        ):
            return None
    except (OSError, UnicodeDecodeError, SourceError):
        return None
    return source


class RunnerPool:
    """One test runner per worker, and one memo of results shared by all of them.

    Warm runners keep a sandbox started for the next candidate. The memo answers a run of the
    same tests on the same file contents without running them again: the ground truth of a
    method is spliced back many times (once per mutant), and teachers repeat themselves.
    Each runner's `confirm` is the second opinion the loop asks for a passing answer: a cold
    sandbox per call, with a memo of its own (the same answer is not re-confirmed).
    """

    def __init__(self, repo: Path, python: str | Path, settings: Settings, size: int, warm: bool) -> None:
        self._free: queue.Queue[TestRunner] = queue.Queue()
        self._warm: list[WarmRunner] = []
        self._memo: dict[str, RunResult] = {}
        self._confirmed: dict[str, RunResult] = {}
        self._memo_lock = threading.Lock()
        self.memo_hits = 0
        cold = sandbox_test_runner(settings, python)
        for _ in range(size):
            if warm:
                from sandbox.warm import WarmRunner

                runner = WarmRunner(
                    repo,
                    python=python,
                    limits=settings.sandbox.limits(),
                    isolation=settings.sandbox.isolation,
                )
                self._warm.append(runner)
                first = self._memoised(_warm_test_runner(runner), self._memo)
            else:
                first = self._memoised(cold, self._memo)
            first.confirm = self._memoised(cold, self._confirmed)  # type: ignore[attr-defined]
            self._free.put(first)

    def _memoised(self, run: TestRunner, memo: dict[str, RunResult]) -> TestRunner:
        def memo_run(repo: Path, test_ids: Sequence[str], *, overrides: Mapping[str, str]) -> RunResult:
            key = short_hash(json.dumps([list(test_ids), sorted(overrides.items())]))
            with self._memo_lock:
                if key in memo:
                    self.memo_hits += 1
                    return memo[key]
            result = run(repo, test_ids, overrides=overrides)
            if not (result.timed_out or result.crashed or result.killed_reason):  # those may not repeat
                with self._memo_lock:
                    memo[key] = result
            return result

        return memo_run

    @contextlib.contextmanager
    def borrow(self) -> Iterator[TestRunner]:
        runner = self._free.get()
        try:
            yield runner
        finally:
            self._free.put(runner)

    def close(self) -> None:
        for runner in self._warm:
            runner.close()


def _warm_test_runner(warm: WarmRunner) -> TestRunner:
    def run(repo: Path, test_ids: Sequence[str], *, overrides: Mapping[str, str]) -> RunResult:
        return warm.run(test_ids, overrides)

    return run


def _item(
    retained: Retained,
    unit: Unit,
    trajectory: Trajectory,
    start: str,
    **extra: object,
) -> dict:
    return {
        "hash": retained.hash,
        "teacher": unit.teacher.name,
        "method": unit.record.id,
        "variant": unit.variant,
        "split": unit.record.split,
        "rule": retained.rule,
        "target": retained.target,
        "turns": trajectory.turns_used,
        "mode": str(trajectory.mode),
        "start": start,
        "model": trajectory.model,
        "fix_type": item_fix_type(unit, retained, extra.get("operator")),
        **extra,
        "messages": retained.messages,
    }


def item_fix_type(unit: Unit, retained: Retained, operator: object) -> str | None:
    """What kind of fix the item teaches: the mutation teacher's operator says it; for a model
    teacher the classifier reads it from the answer before the last and the last. A single-turn
    item that writes the method from its body removed teaches no one kind: None."""
    if unit.teacher.backend is None and isinstance(operator, str):
        return FIX_TYPES.get(operator)
    answers = [m["content"] for m in retained.messages if m["role"] == "assistant"]
    if len(answers) < 2:
        return None
    try:
        before, after = (extract_code(answer) for answer in answers[-2:])
    except NoCodeBlock:  # the answer before the fix was prose
        return None
    return fix_type(before, after)


def _request(repo: Path, record: MethodRecord, source: str, reference: RunResult) -> RepairRequest:
    return RepairRequest(
        repo=repo,
        path=record.path,
        qualname=record.qualname,
        tests=record.tests,
        source=source,
        reference=reference,
        ground_truth=record.method_text,
        hidden_bodies=record.hidden_bodies,
    )


def run_mutation_unit(
    unit: Unit,
    repo: Path,
    source: str,
    run: TestRunner,
    options: GenerationOptions,
    should_cancel: Callable[[], bool],
) -> UnitResult:
    """Try the method's mutants in a fixed order; keep those the tests reject, up to the quota."""
    record = unit.record
    method = find_method(source, record.qualname)
    candidates = in_trial_order(mutants(source, method, options.operators), key=record.id, seed=options.seed)
    stats = Counter(
        {"candidates": len(candidates), "tried": 0, "kept": 0, "survived": 0, "ground_truth_failed": 0}
    )
    kept_by_operator: Counter[str] = Counter()
    items: list[dict] = []
    reference = ground_truth_run(repo, record, source, run)
    for mutant in candidates[: options.max_mutant_trials]:
        if stats["kept"] >= options.mutants_per_method:
            break
        stats["tried"] += 1
        trajectory = _scripted_repair(record, repo, mutant.source, reference, run, "repair", should_cancel)
        if trajectory.status is Status.ALREADY_PASSING:
            stats["survived"] += 1
            continue
        if trajectory.status is not Status.FIXED:
            # The original method fails its own tests here (order-dependent or flaky tests), or the
            # run hit the time limit; only the second may go differently with the next mutant.
            stats["ground_truth_failed"] += 1
            final = trajectory.final
            if final is None or final.results is None or not final.results.timed_out:
                break
            continue
        stats["kept"] += 1
        kept_by_operator[mutant.operator] += 1
        runs: list[tuple[Trajectory, dict[str, object]]] = [(trajectory, {})]
        if options.echo_items:
            echo = _scripted_repair(
                record, repo, mutant.source, reference, run, "repair", should_cancel, echo=True
            )
            if echo.status is Status.FIXED:
                runs.append((echo, {"echo": True}))
        for done, extra in runs:
            for retained in _ground_truth_retained(done, record):
                items.append(
                    _item(
                        retained,
                        unit,
                        done,
                        "mutant",
                        operator=mutant.operator,
                        mutation=mutant.description,
                        **extra,
                    )
                )
    status = "kept" if stats["kept"] else ("no_candidates" if not candidates else "none_rejected")
    return UnitResult(
        items, {"status": status, "mutants": dict(stats), "kept_by_operator": dict(kept_by_operator)}
    )


def _scripted_repair(
    record: MethodRecord,
    repo: Path,
    source: str,
    reference: RunResult,
    run: TestRunner,
    start: Literal["repair", "generate"],
    should_cancel: Callable[[], bool],
    *,
    echo: bool = False,
) -> Trajectory:
    """The loop with a scripted model that answers the ground truth; with `echo`, it first
    repeats the method it was given through the loop's resamples, so the next turn opens with
    the repeat prompt."""
    replies = [record.ground_truth_reply()]
    if echo:
        given = prompts.as_code_reply(method_text(source, find_method(source, record.qualname)))
        replies = [given] * (1 + RESAMPLES) + replies
    options = RepairOptions(mode=Mode.NO_THINK, max_turns=2 if echo else 1, start=start)
    backend = ScriptedBackend(replies, name="mutation")
    trajectory = repair(
        _request(repo, record, source, reference), backend, run, options, should_cancel=should_cancel
    )
    if trajectory.status is Status.CANCELLED:
        raise RepairCancelled
    return trajectory


def _ground_truth_retained(trajectory: Trajectory, record: MethodRecord) -> list[Retained]:
    """The retained items of a scripted run: its answer is the ground truth, so every target is."""
    return [Retained(r.rule, "ground_truth", r.messages) for r in retain(trajectory, record)]


def run_ground_truth_generation(
    unit: Unit, repo: Path, source: str, run: TestRunner, should_cancel: Callable[[], bool]
) -> UnitResult:
    """The mutation teacher from the body removed: the method written at once as the repository has it."""
    reference = ground_truth_run(repo, unit.record, source, run)
    trajectory = _scripted_repair(unit.record, repo, source, reference, run, "generate", should_cancel)
    items = [_item(r, unit, trajectory, "generate") for r in _ground_truth_retained(trajectory, unit.record)]
    return UnitResult(items, {"status": str(trajectory.status), "turns": trajectory.turns_used})


def run_model_unit(
    unit: Unit,
    repo: Path,
    source: str,
    run: TestRunner,
    settings: Settings,
    options: GenerationOptions,
    should_cancel: Callable[[], bool],
) -> UnitResult:
    teacher = unit.teacher
    assert teacher.backend is not None
    loop_options = RepairOptions.from_settings(
        settings, mode=teacher.mode, max_turns=options.turns, samples_per_turn=1, adapter=teacher.adapter
    )
    if teacher.temperature is not None:
        loop_options = replace(
            loop_options, generation=replace(loop_options.generation, temperature=teacher.temperature)
        )
    extra: dict[str, object] = {}
    start = unit.variant
    if start == "generate":
        request = _request(repo, unit.record, source, ground_truth_run(repo, unit.record, source, run))
        trajectory = repair(
            request,
            teacher.backend,
            run,
            replace(loop_options, start="generate"),
            should_cancel=should_cancel,
        )
    else:
        found = _repair_a_mutant(unit, repo, source, run, loop_options, options, should_cancel)
        if found is None:
            return UnitResult([], {"status": "no_rejected_mutant"})
        trajectory, extra = found
    if trajectory.status is Status.CANCELLED:
        raise RepairCancelled
    items = [_item(r, unit, trajectory, start, **extra) for r in retain(trajectory, unit.record)]
    return UnitResult(items, {"status": str(trajectory.status), "turns": trajectory.turns_used})


def _repair_a_mutant(
    unit: Unit,
    repo: Path,
    source: str,
    run: TestRunner,
    loop_options: RepairOptions,
    options: GenerationOptions,
    should_cancel: Callable[[], bool],
) -> tuple[Trajectory, dict[str, object]] | None:
    """The loop on the first mutant (in the fixed order) that the tests reject."""
    record = unit.record
    assert unit.teacher.backend is not None
    method = find_method(source, record.qualname)
    candidates = in_trial_order(mutants(source, method, options.operators), key=record.id, seed=options.seed)
    reference = ground_truth_run(repo, record, source, run)
    for mutant in candidates[: options.max_mutant_trials]:
        trajectory = repair(
            _request(repo, record, mutant.source, reference),
            unit.teacher.backend,
            run,
            replace(loop_options, start="repair"),
            should_cancel=should_cancel,
        )
        if trajectory.status is not Status.ALREADY_PASSING:
            return trajectory, {"operator": mutant.operator, "mutation": mutant.description}
    return None


def _check_config(folder: Path, config: dict) -> None:
    existing = read_config(folder)
    if existing is None:
        write_json(folder / CONFIG_FILE, config)
        return
    for name in ("extraction", "turns"):  # starts may grow: each start's units are keyed apart
        if existing.get(name) != config[name]:
            raise GenerationError(
                f"{folder} was generated with {name}={existing.get(name)!r}, not {config[name]!r}; "
                "pass another --out to keep both"
            )


def generate(
    extraction: Path,
    teachers: Sequence[Teacher],
    *,
    settings: Settings,
    options: GenerationOptions = GenerationOptions(),
    python: str | Path | None = None,
    out: Path | None = None,
    methods: Sequence[str] | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> GenerationSummary:
    """Run every teacher on every train/validation method not done yet; resumable, parallel."""
    if options.turns < 1 or options.workers < 1:
        raise GenerationError("--turns and --workers must be at least 1")
    if not teachers:
        raise GenerationError("name at least one --teacher")
    names = [t.name for t in teachers]
    if len(set(names)) != len(names):
        raise GenerationError(f"teacher names must differ: {', '.join(names)}")
    try:
        manifest = read_manifest(extraction)
        records = [r for r in read_records(extraction) if r.split in TRAINING_SPLITS]
    except (OSError, ValueError, TypeError) as err:
        raise GenerationError(f"{extraction} is not an extraction folder ({err})") from err
    if methods:
        wanted = set(methods)
        unknown = wanted - {r.id for r in records}
        if unknown:
            raise GenerationError(f"not a train/validation method of this extraction: {sorted(unknown)[0]}")
        records = [r for r in records if r.id in wanted]
    repo = Path(manifest.repository)
    if not repo.is_dir():
        raise GenerationError(f"the extracted repository is gone: {repo}")
    folder = out or trajectories_dir(settings, manifest.name or repo.name, manifest.version)
    config = {"extraction": manifest.version, "turns": options.turns}
    folder.mkdir(parents=True, exist_ok=True)
    _check_config(folder, config)
    stop = stop or threading.Event()

    with TrajectoryStore(folder) as store:
        sources: dict[str, str | None] = {}
        units: list[Unit] = []
        for record in records:
            for teacher in teachers:
                units += [Unit(teacher, record, v) for v in variants_for(teacher, options.starts)]
        pending = [u for u in units if not store.is_done(u.key)]
        summary = GenerationSummary(
            folder, len(units), len(units) - len(pending), repaired_lines=store.repaired
        )
        for record in {u.record.id: u.record for u in pending}.values():
            sources[record.id] = current_source(repo, record)
            if sources[record.id] is None:
                summary.stale.append(record.id)
        pending = [u for u in pending if sources[u.record.id] is not None]
        if pending:
            _run_units(
                pending,
                store,
                sources,
                repo,
                python or manifest.python,
                settings,
                options,
                summary,
                progress,
                stop,
            )
        summary.counts = summarize(folder)
    _write_manifest(folder, manifest, extraction, teachers, options, summary)
    return summary


def _run_units(
    pending: list[Unit],
    store: TrajectoryStore,
    sources: dict[str, str | None],
    repo: Path,
    python: str | Path,
    settings: Settings,
    options: GenerationOptions,
    summary: GenerationSummary,
    progress: bool,
    stop: threading.Event,
) -> None:
    from tqdm import tqdm

    pool = RunnerPool(repo, python, settings, min(options.workers, len(pending)), options.warm)

    def work(unit: Unit) -> UnitResult:
        if stop.is_set():
            raise RepairCancelled
        source = sources[unit.record.id]
        assert source is not None
        with pool.borrow() as run:
            if ground_truth_fails(repo, unit.record, source, run):
                return UnitResult([], {"status": "ground_truth_failed"})
            if unit.teacher.backend is None and unit.variant == "generate":
                return run_ground_truth_generation(unit, repo, source, run, stop.is_set)
            if unit.teacher.backend is None:
                return run_mutation_unit(unit, repo, source, run, options, stop.is_set)
            return run_model_unit(unit, repo, source, run, settings, options, stop.is_set)

    consecutive_errors = 0
    bar = tqdm(total=len(pending), desc="trajectories", unit="unit", disable=not progress, dynamic_ncols=True)
    executor = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="teacher")
    try:
        todo = iter(pending)
        running: dict[Future[UnitResult], Unit] = {}

        def submit() -> None:
            for unit in todo:
                running[executor.submit(work, unit)] = unit
                return

        for _ in range(options.workers):
            submit()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                unit = running.pop(future)
                try:
                    result = future.result()
                except RepairCancelled:
                    continue
                except UnitNotRun as err:
                    summary.errors.append(
                        f"{unit.teacher.name} on {unit.record.id}: {err}; run again to retry"
                    )
                except BackendError as err:
                    consecutive_errors += 1
                    summary.errors.append(f"{unit.teacher.name} on {unit.record.id}: {err}")
                    if consecutive_errors >= options.max_consecutive_errors:
                        stop.set()
                        raise GenerationError(
                            f"teacher {unit.teacher.name!r} failed {consecutive_errors} times in a row: {err}"
                        ) from err
                else:
                    consecutive_errors = 0
                    fresh = store.finish(unit.key, result.items, result.summary)
                    summary.units_run += 1
                    summary.items_written += len(fresh)
                bar.update(1)
                bar.set_postfix(items=summary.items_written, refresh=False)
                if not stop.is_set():
                    submit()
    except BaseException:
        stop.set()  # in-flight repairs stop at their next check; nothing half-done is recorded
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
        pool.close()


def _write_manifest(
    folder: Path,
    manifest: ExtractionManifest,
    extraction: Path,
    teachers: Sequence[Teacher],
    options: GenerationOptions,
    summary: GenerationSummary,
) -> None:
    path = folder / MANIFEST_FILE
    previous: dict = {}
    if path.exists():
        with contextlib.suppress(ValueError):
            previous = json.loads(path.read_text(encoding="utf-8"))
    known_teachers = dict(previous.get("teachers") or {})
    known_teachers.update({t.name: t.spec.describe() for t in teachers})
    write_json(
        path,
        {
            "extraction": {
                "folder": str(extraction.resolve()),
                "version": manifest.version,
                "repository": manifest.repository,
                "name": manifest.name,
                "commit": manifest.commit,
            },
            "teachers": known_teachers,
            "turns": options.turns,
            "starts": list(options.starts),
            "mutants_per_method": options.mutants_per_method,
            "seed": options.seed,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": summary.counts,
        },
    )
