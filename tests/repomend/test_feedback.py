"""The TEST_RESULT text: every failing test accounted for, each distinct error explained once."""

from __future__ import annotations

from repomend.contract.feedback import MAX_DETAILED_ERRORS, MAX_LISTED_IDS, failing_line, format_test_output
from sandbox.results import RunResult, TestResult

TRACEBACK = (
    "tests/test_d.py:12: in test_add\n    assert add(1) == 2\n           ^^^^^^\nE   TypeError: bad operand"
)


def failed(nodeid: str, kind: str = "TypeError", message: str = "bad operand") -> TestResult:
    return TestResult(nodeid, "failed", exception_type=kind, message=message, traceback=TRACEBACK)


def test_one_error_shared_by_many_tests_is_explained_once_and_the_tests_are_named():
    tests = [failed(f"tests/test_d.py::test_{i}") for i in range(12)] + [
        TestResult("tests/test_d.py::test_ok", "passed")
    ]
    text = format_test_output(RunResult(tests=tests))

    assert text.count("E   TypeError: bad operand") == 1
    assert text.startswith("tests/test_d.py::test_0 FAILED - TypeError: bad operand\n")
    listed = [f"tests/test_d.py::test_{i}" for i in range(1, 1 + MAX_LISTED_IDS)]
    assert f"The same error in: {', '.join(listed)} and {11 - MAX_LISTED_IDS} more" in text
    assert text.endswith("1 passed, 12 failed")


def test_distinct_errors_get_tracebacks_up_to_the_limit_then_headlines():
    tests = [
        failed(f"tests/test_d.py::test_{i}", message=f"error {i}") for i in range(MAX_DETAILED_ERRORS + 2)
    ]
    text = format_test_output(RunResult(tests=tests))

    assert text.count("E   TypeError: bad operand") == MAX_DETAILED_ERRORS
    for i in range(MAX_DETAILED_ERRORS + 2):
        assert f"tests/test_d.py::test_{i} FAILED - TypeError: error {i}" in text


def test_position_markers_under_source_lines_are_left_out():
    text = format_test_output(RunResult(tests=[failed("tests/test_d.py::test_add")]))
    assert "    assert add(1) == 2\nE   TypeError: bad operand" in text and "^" not in text


def test_the_methods_failing_line_comes_first_when_the_error_passed_through_it():
    deep = (
        "tests/test_d.py:12: in test_add\n    assert add(1) == 2\n"
        "pkg/d.py:3: in helper\n    return x + y\n"
        "pkg/d.py:7: in add\n    return helper(x, None)\nE   TypeError: bad operand"
    )
    result = RunResult(
        tests=[TestResult("tests/test_d.py::test_add", "failed", exception_type="TypeError", traceback=deep)]
    )
    text = format_test_output(result, target=("pkg/d.py", "add"))
    assert text.startswith("The error is raised in `add` at this line: `return helper(x, None)`\n")
    assert failing_line(result, "pkg/d.py", "helper") == "return x + y"
    # an assertion in the test itself names no line of the method
    assert failing_line(RunResult(tests=[failed("tests/test_d.py::test_add")]), "pkg/d.py", "add") is None
    assert format_test_output(result).startswith("tests/test_d.py::test_add FAILED")
