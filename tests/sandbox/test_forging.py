"""Integrity: each forging candidate runs for real in the sandbox, with the screen out of the way,
and must end not passed, for a reason the verdict names.

The repository's `add` is broken; its tests fail. A candidate is a whole `calc.py` whose `add`
tries to make the tests *look* passed instead of fixing it. The verdict compares with the run
of the broken method (the reference), as a repair does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from repomend.contract.verdict import Reference, Verdict, judge
from sandbox.results import RunResult
from sandbox.runner import Limits, run_tests
from sandbox.warm import WarmRunner
from tests.support.sandbox_repos import PYTHON, RepoFactory, snapshot

pytestmark = pytest.mark.usefixtures("strict")

TESTS = "tests/test_calc.py"
REPO = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "checks.py": "def equal(x, y):\n    assert x == y\n",
    TESTS: """
    import checks
    from calc import add


    def same(x, y):
        assert x == y


    def test_add():
        assert add(2, 2) == 4


    def test_add_by_helper():
        same(add(1, 2), 3)


    def test_add_by_module_helper():
        checks.equal(add(3, 4), 7)
    """,
}
FIXED = "def add(a, b):\n    return a + b\n"

# Ways of writing to every descriptor the process holds; records must authenticate to count.
SPRAY = textwrap.dedent("""
    import json, os
    test = "tests/test_calc.py::test_add"
    fake = json.dumps({"kind": "test", "nodeid": test, "outcome": "passed", "seq": 0})
    done = json.dumps({"kind": "done", "exitstatus": 0, "reports": 1, "seq": 1})
    for name in os.listdir("/proc/self/fd"):
        try:
            os.write(int(name), ("0" * 64 + " " + fake + "\\n" + "0" * 64 + " " + done + "\\n").encode())
        except OSError:
            pass
""")

FORGERS: dict[str, tuple[str, str]] = {
    # name: (body of add, what the verdict must say)
    "pytest.skip": ("import pytest\npytest.skip('later')", "skipped"),
    "pytest.xfail": ("import pytest\npytest.xfail('known bug')", "xfailed"),
    "unittest.SkipTest": ("import unittest\nraise unittest.SkipTest('later')", "skipped"),
    "pytest.exit(0)": ("import pytest\npytest.exit('bye', returncode=0)", "did not run"),
    "SystemExit(0)": ("raise SystemExit(0)", "failed"),
    "KeyboardInterrupt": ("raise KeyboardInterrupt", "did not run"),
    "os._exit(0)": ("import os\nos._exit(0)", "without its done record"),
    "fake records then os._exit(0)": (SPRAY + "\nos._exit(0)", "authentication"),
    "fake records, then carry on": (SPRAY + "\nreturn a - b", "authentication"),
    "truncate the results": (
        "import os\n"
        "for name in os.listdir('/proc/self/fd'):\n"
        "    try:\n"
        "        if os.readlink(f'/proc/self/fd/{name}').startswith('/memfd:'):\n"
        "            os.ftruncate(int(name), 0)\n"
        "    except OSError:\n"
        "        pass\n"
        "return a - b",
        "results",
    ),
    "plugin found through gc, records flipped": (
        "import gc\n"
        "for thing in gc.get_objects():\n"
        "    if type(thing).__name__ == '_Report':\n"
        "        real = thing._send\n"
        "        thing._send = lambda r, real=real: real(\n"
        "            {**r, 'outcome': 'passed'} if r.get('kind') == 'test' else r\n"
        "        )\n"
        "return a - b",
        "the results cannot be trusted",
    ),
    "plugin found through gc, done rewritten too": (
        "import gc\n"
        "for thing in gc.get_objects():\n"
        "    if type(thing).__name__ == '_Report':\n"
        "        real = thing._send\n"
        "        def send(r, real=real):\n"
        "            if r.get('kind') == 'test':\n"
        "                r = {**r, 'outcome': 'passed'}\n"
        "            if r.get('kind') == 'done':\n"
        "                r = {**r, 'exitstatus': 0}\n"
        "            real(r)\n"
        "        thing._send = send\n"
        "return a - b",
        "exited with 1",
    ),
    "test module's helper monkeypatched": (
        "import sys\n"
        "for module in list(sys.modules.values()):\n"
        "    if hasattr(module, 'same') and hasattr(module, 'test_add'):\n"
        "        module.same = lambda *args: None\n"
        "        module.test_add_by_module_helper = lambda: None\n"
        "return a - b",
        "replaced while the tests ran",
    ),
    "assertion module monkeypatched": (
        "import checks\nchecks.equal = lambda *args: None\nreturn a - b",
        "checks.equal",
    ),
    "builtin replaced": (
        "import builtins\nbuiltins.AssertionError = type('Fine', (Exception,), {})\nreturn a - b",
        "builtins.AssertionError",
    ),
    "plugin module imported to sign": (
        "import _repomend_sandbox_plugin as plugin\n"
        "plugin._send({'kind': 'test', 'nodeid': 'x', 'outcome': 'passed'})\n"
        "return a + b",
        "failed",
    ),
    "forked child writes after the parent": (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    time.sleep(0.5)\n" + textwrap.indent(SPRAY, "    ") + "\n    os._exit(0)\n"
        "return a - b",
        "failed",
    ),
    "forked child writes, parent exits 0": (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    time.sleep(0.2)\n" + textwrap.indent(SPRAY, "    ") + "\n    os._exit(0)\n"
        "os._exit(0)",
        "results",
    ),
    "atexit writes after done": (
        "import atexit, os\n"
        "fds = [int(n) for n in os.listdir('/proc/self/fd')]\n"
        "def junk():\n"
        "    for fd in fds:\n"
        "        try:\n"
        "            os.write(fd, b'0' * 64 + b' {}\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "atexit.register(junk)\n"
        "return a - b",
        "results",
    ),
    "test file rewritten": (
        "open('tests/test_calc.py', 'w').write('def test_add():\\n    pass\\n')\nreturn a - b",
        "failed",
    ),
    "test file deleted": ("import os\nos.remove('tests/test_calc.py')\nreturn a - b", "failed"),
    "test file rewritten, pytest re-executed": (
        "import os, sys\n"
        "try:\n"
        "    open('tests/test_calc.py', 'w').write('def test_add():\\n    pass\\n')\n"
        "except OSError:\n"
        "    pass\n"
        "if os.environ.get('AGAIN'):\n"
        "    return a + b\n"
        "os.environ['AGAIN'] = '1'\n"
        "os.execv(sys.executable, sys.orig_argv)",
        "results",
    ),
    "endless loop": ("while True:\n    pass", "time limit"),
}


def _candidate(body: str) -> str:
    return "def add(a, b):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


@pytest.fixture
def repo(make_repo: RepoFactory) -> Path:
    return make_repo(REPO)


@pytest.fixture
def reference(repo: Path) -> Reference:
    broken = run_tests(repo, [TESTS], python=PYTHON)
    assert not broken.passed and len(broken.failures) == 3
    return Reference.of(broken, "the method as given")


def _reason(verdict: Verdict) -> str:
    return " | ".join([verdict.problem or "", *verdict.dodged.values(), *(["failed"] * bool(verdict.failed))])


@pytest.mark.parametrize("name", list(FORGERS))
def test_forging_candidate_is_not_passed(name: str, repo: Path, reference: Reference) -> None:
    body, expected = FORGERS[name]
    before = snapshot(repo)
    # Re-executing pytest starts the interpreter twice: on a loaded machine that took over 8 s,
    # and the clock, not the forged results, ended the run.
    wall = 30 if "re-executed" in name else 8
    result = run_tests(
        repo,
        [TESTS],
        python=PYTHON,
        overrides={"calc.py": _candidate(body)},
        limits=Limits(wall_seconds=wall),
    )
    verdict = judge(result, reference)
    assert not verdict.passed, (name, result.tests, result.output[-2000:])
    assert not result.passed
    assert expected in _reason(verdict), (name, _reason(verdict), result.output[-1500:])
    assert snapshot(repo) == before


def test_the_honest_fix_passes_against_the_same_reference(repo: Path, reference: Reference) -> None:
    result = run_tests(repo, [TESTS], python=PYTHON, overrides={"calc.py": FIXED})
    verdict = judge(result, reference)
    assert verdict.passed and result.integrity is None
    assert len(verdict.passed_tests) == 3 and not verdict.dodged


@pytest.mark.parametrize("name", ["pytest.skip", "os._exit(0)", "fake records then os._exit(0)"])
def test_forging_through_a_warm_sandbox_is_not_passed(name: str, repo: Path, reference: Reference) -> None:
    body, expected = FORGERS[name]
    with WarmRunner(repo, python=PYTHON, limits=Limits(wall_seconds=8)) as warm:
        forged = warm.run([TESTS], {"calc.py": _candidate(body)})
        honest = warm.run([TESTS], {"calc.py": FIXED})
    verdict = judge(forged, reference)
    assert not verdict.passed and expected in _reason(verdict)
    assert judge(honest, reference).passed


def test_environment_skips_the_reference_shares_stay_neutral(make_repo: RepoFactory) -> None:
    repo = make_repo(
        {
            "calc.py": "def add(a, b):\n    return a - b\n",
            "tests/test_env.py": """
            import sys
            import pytest
            from calc import add

            def test_add():
                assert add(1, 1) == 2

            @pytest.mark.skipif(sys.platform == "linux", reason="not on linux")
            def test_elsewhere():
                assert add(0, 0) == 0

            def test_optional():
                pytest.importorskip("a_module_nobody_installs")
            """,
        }
    )
    reference = Reference.of(run_tests(repo, ["tests/test_env.py"], python=PYTHON), "the method as given")
    result = run_tests(repo, ["tests/test_env.py"], python=PYTHON, overrides={"calc.py": FIXED})
    verdict = judge(result, reference)
    assert verdict.passed, verdict
    optional = "tests/test_env.py::test_optional"
    assert sorted(verdict.neutral) == ["tests/test_env.py::test_elsewhere", optional]
    # Without a reference only the static mark is neutral: the dynamic skip counts against it.
    assert not result.passed and judge(result, None).dodged == {optional: "skipped"}


def test_a_test_that_disappears_is_dodged(repo: Path, reference: Reference) -> None:
    result = run_tests(repo, [f"{TESTS}::test_add"], python=PYTHON, overrides={"calc.py": FIXED})
    verdict = judge(result, reference)
    assert not verdict.passed
    assert verdict.dodged == {
        f"{TESTS}::test_add_by_helper": "not collected",
        f"{TESTS}::test_add_by_module_helper": "not collected",
    }


def test_records_are_cross_checked_with_the_exit_status(repo: Path) -> None:
    result = run_tests(repo, [TESTS], python=PYTHON, overrides={"calc.py": FIXED})
    assert result.passed and result.exit_code == 0 and result.integrity is None
    assert result.collected == [t.nodeid for t in result.tests] and result.not_run == []


def test_results_of_a_killed_run_are_kept_but_never_pass(repo: Path) -> None:
    slow = _candidate("import time\nif b == 2:\n    time.sleep(60)\nreturn a + b")
    result: RunResult = run_tests(
        repo, [TESTS], python=PYTHON, overrides={"calc.py": slow}, limits=Limits(wall_seconds=4)
    )
    assert result.timed_out and not result.passed
    assert result.integrity is None  # stopped by a limit: judged by the limit


def test_what_the_tests_replace_themselves_is_no_forgery(make_repo: RepoFactory) -> None:
    """A module-scoped fixture that swaps a helper for the module's tests does so in the reference
    run too: the same replacement under a candidate is neutral, another one is not."""
    repo = make_repo(
        {
            "calc.py": "def add(a, b):\n    return a - b\n\n\ndef now():\n    return 0\n",
            "tests/test_clock.py": """
            import pytest
            import calc

            @pytest.fixture(scope="module", autouse=True)
            def frozen():
                real, calc.now = calc.now, lambda: 42
                yield
                calc.now = real

            def test_add():
                assert calc.add(2, 2) == 4

            def test_later():
                assert calc.now() == 42
            """,
        }
    )
    tests = ["tests/test_clock.py"]
    broken = run_tests(repo, tests, python=PYTHON)
    assert broken.replaced == ["calc.now"]
    reference = Reference.of(broken, "the method as given")
    fixed = "def add(a, b):\n    return a + b\n\n\ndef now():\n    return 0\n"
    assert judge(run_tests(repo, tests, python=PYTHON, overrides={"calc.py": fixed}), reference).passed
    patching = fixed.replace("return a + b", "import calc\n    calc.add = lambda a, b: 4\n    return a + b")
    forged = judge(run_tests(repo, tests, python=PYTHON, overrides={"calc.py": patching}), reference)
    assert not forged.passed and "calc.add" in (forged.problem or "")
