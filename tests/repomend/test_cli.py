"""`repomend repair` on bad input: one line, exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from repomend.cli import main
from repomend.errors import EXIT_ERROR
from tests.support.repos import make_repo


@pytest.fixture(autouse=True)
def isolated_data(tmp_path, monkeypatch):
    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path / "data"))


def error_of(capsys, argv: list[str]) -> str:
    assert main(argv) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("repomend: error: ")
    return err


def test_missing_file(capsys, tmp_path):
    assert "no such file" in error_of(capsys, ["repair", f"{tmp_path}/nope.py::f"])


def test_bad_target_syntax(capsys, stats_repo):
    assert "expected PATH::[Class.]method" in error_of(capsys, ["repair", str(stats_repo / "pkg/stats.py")])


def test_no_such_method(capsys, stats_repo):
    err = error_of(capsys, ["repair", f"{stats_repo}/pkg/stats.py::Stats.median"])
    assert "Stats.median" in err and "Stats.mean" in err  # says what the file has


def test_file_that_does_not_parse(capsys, tmp_path):
    repo = make_repo(tmp_path / "r", source="def f(:\n    return 1\n")
    assert "parse" in error_of(capsys, ["repair", f"{repo}/pkg/stats.py::f"])


def test_no_tests_found(capsys, tmp_path):
    repo = make_repo(tmp_path / "r", tests="def test_unrelated():\n    assert True\n")
    assert "no tests found" in error_of(capsys, ["repair", f"{repo}/pkg/stats.py::Stats.mean"])


def test_tests_that_do_not_collect(capsys, tmp_path):
    repo = make_repo(tmp_path / "r", tests="import no_such_module\n")
    err = error_of(capsys, ["repair", f"{repo}/pkg/stats.py::Stats.mean"])
    assert "do not collect" in err and "no_such_module" in err


def test_unknown_given_test(capsys, stats_repo):
    err = error_of(
        capsys, ["repair", f"{stats_repo}/pkg/stats.py::Stats.mean", "--tests", "tests/test_stats.py::nope"]
    )
    assert "no such test" in err


def test_turns_must_be_positive(capsys, stats_repo):
    assert "at least 1" in error_of(
        capsys, ["repair", f"{stats_repo}/pkg/stats.py::Stats.mean", "--turns", "0"]
    )


def test_missing_model_folder(capsys, stats_repo, tmp_path):
    err = error_of(
        capsys,
        ["repair", f"{stats_repo}/pkg/stats.py::Stats.mean", "--model", str(tmp_path / "no-model")],
    )
    assert "cannot load the model" in err


@pytest.fixture
def scripted_model(monkeypatch):
    """The CLI's own flow with prepared model replies (the real backends have their own tests)."""
    from repomend import backends
    from repomend.backends.scripted import ScriptedBackend

    def install(replies):
        backend = ScriptedBackend(replies)
        monkeypatch.setattr(backends, "load_backend", lambda settings: backend)
        return backend

    return install


def test_repair_prints_the_verified_diff_and_applies_it(capsys, stats_repo, scripted_model):
    from tests.support.repos import FIXED_MEAN, WRONG_MEAN

    scripted_model([f"```python\n{WRONG_MEAN}\n```", f"```python\n{FIXED_MEAN}\n```"])
    target = f"{stats_repo}/pkg/stats.py::Stats.mean"
    code = main(["repair", target, "--apply", "--turns", "3", "--samples", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "tests (coverage: 2 test(s) execute `Stats.mean`)" in out
    assert "turn 1/3: tests fail (1 passed, 1 failed)" in out
    assert "turn 2/3: tests pass (2 passed, 0 failed)" in out
    assert "fix type: off by one" in out
    assert "+        return sum(self.xs) / len(self.xs)" in out
    assert "return sum(self.xs) / len(self.xs)" in (stats_repo / "pkg/stats.py").read_text()


def test_unfixed_repair_shows_last_attempt_and_why(capsys, stats_repo, scripted_model):
    from tests.support.repos import STATS_SOURCE, WRONG_MEAN

    scripted_model([f"```python\n{answer}\n```" for answer in ("def mean(self):\n    return 0", WRONG_MEAN)])
    code = main(
        [
            "repair",
            f"{stats_repo}/pkg/stats.py::Stats.mean",
            "--turns",
            "2",
            "--samples",
            "1",
            "--tests",
            "tests/test_stats.py::test_mean",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "tests (given: 1 test(s) given)" in out
    assert "not fixed after 2 turn(s)" in out
    assert "+        return sum(self.xs)\n" in out
    assert "AssertionError" in out
    assert (stats_repo / "pkg/stats.py").read_text() == STATS_SOURCE
