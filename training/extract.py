"""Extraction: every function and method of a repository that at least one passing test executes.

One run of the whole suite inside the sandbox under per-test coverage (coverage.py dynamic
contexts) says which tests execute which lines; a method is kept when a passing test executes
a line of its body. Each kept method becomes a MethodRecord (the file with the body removed,
declaration, docstring, ground truth, covering tests) in a deterministic split.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from repomend.discovery import DISCOVERY_WALL_FACTOR, DiscoveryError, collect_node_ids, covering_tests
from repomend.loop import is_placeholder
from repomend.settings import Settings
from repomend.source import Method, SourceError, method_text, parse_methods, remove_body
from sandbox.results import RunResult
from sandbox.workspace import DROPPED_NAMES, SHARED_NAMES
from training.errors import ExtractionError
from training.heldout_bodies import hide_heldout_bodies
from training.records import (
    ExtractionManifest,
    MethodRecord,
    read_records,
    write_manifest,
    write_records,
)
from training.split import SplitItem, SplitUnit, assign_splits, check_fractions
from training.storage import extraction_dir, short_hash

SKIPPED_FOLDERS = frozenset(
    {"build", "dist", "site-packages", "tests", "test", *SHARED_NAMES, *DROPPED_NAMES}
)
"""Folders whose Python files are never extraction targets (test helpers, build copies, venvs)."""


@dataclass(frozen=True)
class Extraction:
    folder: Path
    manifest: ExtractionManifest
    records: list[MethodRecord]


def is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


def source_files(repo: Path, test_files: Collection[str] = ()) -> list[str]:
    """Repository-relative Python files that may hold targets: no tests, venvs, caches or build copies."""
    found: list[str] = []
    for folder, dirs, files in os.walk(repo):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in SKIPPED_FOLDERS
            and not d.endswith(".egg-info")
            and not os.path.isfile(os.path.join(folder, d, "pyvenv.cfg"))
        )
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            rel = Path(folder, name).relative_to(repo).as_posix()
            if rel not in test_files and not is_test_file(rel) and rel != "setup.py":
                found.append(rel)
    return found


def git_state(repo: Path) -> tuple[str | None, bool | None]:
    """(HEAD commit, has uncommitted changes) of a git checkout; (None, None) otherwise."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
        if head.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None


def ground_truth_body(text: str, method: Method) -> str:
    """The body of the column-0 method text: everything after the declaration."""
    if method.body_start_line == method.start_line:  # `def f(): return 1`
        return text[len(method.declaration) :].strip()
    header_lines = method.body_start_line - method.start_line
    return "\n".join(text.split("\n")[header_lines:])


def run_suite_with_coverage(
    repo: Path, files: Sequence[str], *, python: str | Path, settings: Settings, wall_factor: float
) -> RunResult:
    from sandbox.runner import run_tests

    return run_tests(
        repo,
        [],  # the whole configured suite: a list of thousands of ids would not fit in the environment
        python=python,
        limits=settings.sandbox.limits(wall_factor),
        isolation=settings.sandbox.isolation,
        coverage_include=list(files),
    )


def methods_from_coverage(
    repo: Path,
    files: Sequence[str],
    run: RunResult,
    order: Sequence[str],
    skipped: Counter[str],
) -> list[tuple[MethodRecord, str]]:
    """(record without split, its file) for each method a passing test executes."""
    assert run.coverage is not None
    passed = {t.nodeid for t in run.tests if t.outcome == "passed"}
    seconds = {t.nodeid: t.duration for t in run.tests}
    found: list[tuple[MethodRecord, str]] = []
    for path in files:
        touching = {nodeid: by_file for nodeid, by_file in run.coverage.items() if path in by_file}
        try:
            source = (repo / path).read_text(encoding="utf-8")
            methods = parse_methods(source)
        except (UnicodeDecodeError, SourceError):
            skipped["unreadable_files"] += 1
            continue
        seen: set[str] = set()
        for method in methods:
            skipped["functions_seen"] += 1
            if method.qualname in seen:
                skipped["duplicate_name"] += 1  # the loop addresses the first definition only
                continue
            seen.add(method.qualname)
            covering = covering_tests(touching, path, method, order) if touching else []
            tests = [nodeid for nodeid in covering if nodeid in passed]
            if not covering:
                skipped["not_covered"] += 1
                continue
            if not tests:
                skipped["only_failing_tests"] += 1
                continue
            if is_placeholder(source, method):
                skipped["placeholder_body"] += 1
                continue
            try:
                text = method_text(source, method)
                masked = remove_body(source, method)
            except SourceError:
                skipped["unmaskable"] += 1
                continue
            record = MethodRecord(
                id=f"{path}::{method.qualname}",
                path=path,
                qualname=method.qualname,
                class_name=method.class_name,
                declaration=method.declaration,
                docstring=method.docstring,
                body=ground_truth_body(text, method),
                method_text=text,
                masked_file=masked,
                tests=tests,
                split="train",
                line=method.start_line,
                extra={"tests_seconds": round(sum(seconds.get(t, 0.0) for t in tests), 4)},
            )
            found.append((record, path))
    return found


def extract(
    repo: Path,
    *,
    python: str | Path,
    settings: Settings,
    seed: int = 0,
    heldout_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    split_unit: SplitUnit = "method",
    out: Path | None = None,
    wall_factor: float = DISCOVERY_WALL_FACTOR,
    on_status: Callable[[str], None] | None = None,
) -> Extraction:
    """Extract the test-covered methods of `repo` and store them (default: under the data dir)."""
    status = on_status or (lambda _text: None)
    try:
        check_fractions(heldout_fraction, validation_fraction)
    except ValueError as err:
        raise ExtractionError(str(err)) from err
    repo = Path(repo).resolve()
    if not repo.is_dir():
        raise ExtractionError(f"no such repository folder: {repo}")
    status("collecting the tests")
    try:
        nodeids = collect_node_ids(repo, python, settings)
    except DiscoveryError as err:
        raise ExtractionError(str(err)) from err
    if not nodeids:
        raise ExtractionError(f"no tests found in {repo}")
    files = source_files(repo, {nodeid.split("::", 1)[0] for nodeid in nodeids})
    if not files:
        raise ExtractionError(f"no Python source files outside the tests in {repo}")
    status(f"running {len(nodeids)} tests under per-test coverage of {len(files)} files")
    run = run_suite_with_coverage(repo, files, python=python, settings=settings, wall_factor=wall_factor)
    if run.timed_out:
        limit = settings.sandbox.wall_seconds * wall_factor
        raise ExtractionError(
            f"the test suite ran past {limit:g} s under coverage; raise REPOMEND_SANDBOX__WALL_SECONDS"
        )
    if run.coverage is None:
        why = run.killed_reason or run.coverage_error or "no coverage data came back"
        raise ExtractionError(f"per-test coverage failed: {why}")

    skipped: Counter[str] = Counter()
    found = methods_from_coverage(repo, files, run, nodeids, skipped)
    splits = assign_splits(
        [SplitItem(record.id, path, record.method_text) for record, path in found],
        seed=seed,
        heldout_fraction=heldout_fraction,
        validation_fraction=validation_fraction,
        unit=split_unit,
    )
    records = hide_heldout_bodies([replace(record, split=splits[record.id]) for record, _ in found], repo)
    version = short_hash(*(replace(r, extra={}).to_json() for r in records))  # timings are not content
    folder = out or extraction_dir(settings, repo.name, version)
    commit, dirty = git_state(repo)
    functions_seen = skipped.pop("functions_seen", 0)
    counts = Counter(r.split for r in records)
    manifest = ExtractionManifest(
        version=version,
        repository=str(repo),
        commit=commit,
        python=str(python),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        counts={
            "covered": len(records),
            "functions_seen": functions_seen,
            **{split: counts.get(split, 0) for split in ("train", "validation", "heldout")},
        },
        seed=seed,
        name=repo.name,
        heldout_fraction=heldout_fraction,
        validation_fraction=validation_fraction,
        split_unit=split_unit,
        dirty=dirty,
        tests_collected=len(nodeids),
        tests_passed=sum(1 for t in run.tests if t.outcome == "passed"),
        skipped=dict(sorted(skipped.items())),
    )
    write_records(folder, records)
    write_manifest(folder, manifest)
    return Extraction(folder, manifest, read_records(folder))
