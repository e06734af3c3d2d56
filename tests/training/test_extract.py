"""Extraction: exactly the methods a passing test executes, stored with what the prompts need."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from repomend.backends.scripted import ScriptedBackend
from repomend.cli import main
from repomend.errors import EXIT_ERROR
from repomend.loop import RepairOptions, RepairRequest, repair, sandbox_test_runner
from repomend.source import find_method, remove_body
from tests.support.repos import COVERED, SHAPES_SOURCE, SHAPES_TESTS, make_repo
from tests.support.settings import sandbox_settings
from training.extract import ExtractionError, extract
from training.records import read_manifest, read_records


def test_finds_exactly_the_methods_passing_tests_execute(shapes_extraction):
    records = shapes_extraction.records
    assert [r.id for r in records] == COVERED
    assert shapes_extraction.manifest.skipped == {
        "not_covered": 2,  # Box.unused, untested
        "only_failing_tests": 1,  # double
        "placeholder_body": 1,  # Box.todo
    }
    assert shapes_extraction.manifest.counts["functions_seen"] == 9
    by_id = {r.id: r for r in records}
    # the failing test that also runs clamp cannot judge a repair: it is not listed
    assert by_id["pkg/stats.py::clamp"].tests == ["tests/test_stats.py::test_clamp"]
    assert by_id["pkg/stats.py::Box.largest"].tests == [
        "tests/test_stats.py::test_largest",
        "tests/test_stats.py::test_largest_of_nothing",
    ]
    assert "tests/test_stats.py::test_todo_is_not_there_yet" in by_id["pkg/stats.py::Box.__init__"].tests


def test_records_hold_what_the_first_turn_needs(shapes_extraction):
    count = {r.qualname: r for r in shapes_extraction.records}["Box.count"]
    assert count.class_name == "Box"
    assert count.declaration == "def count(self):"
    assert count.docstring == "How many items."
    assert count.method_text == 'def count(self):\n    """How many items."""\n    return len(self.items)'
    assert count.body == '    """How many items."""\n    return len(self.items)'
    assert count.masked_file == remove_body(SHAPES_SOURCE, find_method(SHAPES_SOURCE, "Box.count"))
    assert "return len(self.items)" not in count.masked_file
    assert count.line == SHAPES_SOURCE.splitlines().index("    def count(self):")


def test_stored_under_the_data_dir_with_a_content_version(shapes_extraction, tmp_path):
    folder = shapes_extraction.folder
    manifest = read_manifest(folder)
    assert folder.parent.name == "extract" and folder.parent.parent.name == "shapes"
    assert folder.name == manifest.version
    assert read_records(folder) == shapes_extraction.records
    assert manifest.counts["covered"] == len(COVERED) == manifest.counts["train"]
    assert manifest.commit is None  # not a git checkout
    again = extract(
        make_repo(tmp_path / "shapes", source=SHAPES_SOURCE, tests=SHAPES_TESTS),
        python=sys.executable,
        settings=sandbox_settings(tmp_path / "other-data"),
        heldout_fraction=0.0,
        validation_fraction=0.0,
    )
    assert again.manifest.version == manifest.version  # same content, same version, wherever it lives


def test_the_loop_opens_a_conversation_exactly_as_the_record_does(shapes_extraction, settings, python):
    """The train/serve contract: the first-turn messages built from a record are the loop's."""
    record = {r.qualname: r for r in shapes_extraction.records}["Box.count"]
    repo = Path(shapes_extraction.manifest.repository)
    backend = ScriptedBackend([record.ground_truth_reply()])
    request = RepairRequest(repo=repo, path=record.path, qualname=record.qualname, tests=record.tests)
    trajectory = repair(
        request, backend, sandbox_test_runner(settings, python), RepairOptions(start="generate")
    )
    assert trajectory.fixed_source == SHAPES_SOURCE  # the ground-truth reply splices back to the original
    assert backend.calls[0][0] == record.opening_messages()


def test_suite_that_does_not_collect_is_a_clear_error(tmp_path, settings, python):
    repo = make_repo(tmp_path / "r", tests="import no_such_module\n")
    with pytest.raises(ExtractionError, match="do not collect"):
        extract(repo, python=python, settings=settings)


def test_bad_fractions_are_refused(tmp_path, settings, python):
    with pytest.raises(ExtractionError, match="fractions"):
        extract(tmp_path, python=python, settings=settings, heldout_fraction=0.6, validation_fraction=0.5)


def test_cli_prints_counts_and_where(shapes_repo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path / "data"))
    assert main(["train", "extract", str(shapes_repo), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "5 of 9 functions and methods are executed by passing tests" in out
    folder = out.rsplit("written to ", 1)[1].strip()
    assert folder.startswith(str(tmp_path / "data" / "training" / "shapes" / "extract"))
    assert read_manifest(Path(folder)).seed == 3


def test_cli_bad_repository_is_one_line(tmp_path, capsys):
    assert main(["train", "extract", str(tmp_path / "nope")]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("repomend: error: no such repository folder") and len(err.splitlines()) == 1
