import pytest

from repomend.contract import prompts
from repomend.contract.conversation import NoCodeBlock, extract_code, split_reasoning


def test_reasoning_is_split_from_the_answer():
    split = split_reasoning("<think>\nthe divisor is off by one\n</think>\n\n```python\ndef f(): ...\n```")
    assert split.reasoning == "the divisor is off by one"
    assert split.content.startswith("```python")


def test_prefilled_think_without_opening_tag():
    split = split_reasoning("check bounds</think>answer")
    assert split.reasoning == "check bounds"
    assert split.content == "answer"


def test_empty_think_block_gives_no_reasoning():
    split = split_reasoning("<think>\n\n</think>\n\nanswer")
    assert split.reasoning is None
    assert split.content == "answer"


def test_unclosed_think_is_all_reasoning():
    split = split_reasoning("<think>still thinking about it")
    assert split.reasoning == "still thinking about it"
    assert split.content == ""


def test_reply_without_think_is_all_answer():
    assert split_reasoning("```python\nx\n```").content == "```python\nx\n```"
    assert split_reasoning("plain").reasoning is None


def test_extract_prefers_python_block_with_def():
    reply = (
        "Here is the fix:\n```text\nnot code\n```\n```python\nimport math\n```\n"
        "```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```\nUsage: mean([1])"
    )
    assert extract_code(reply) == "def mean(xs):\n    return sum(xs) / len(xs)"


def test_extract_accepts_bare_fence_and_unterminated_block():
    assert extract_code("```\ndef f():\n    return 1\n```") == "def f():\n    return 1"
    assert extract_code("```python\ndef f():\n    return 1\n") == "def f():\n    return 1"


def test_extract_accepts_bare_code_starting_with_def():
    assert extract_code("def f():\n    return 1\n") == "def f():\n    return 1"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I cannot help with that.", "no ```python code block"),
        ("```javascript\nfunction f() {}\n```", "not python (javascript)"),
        ("```python\n\n```", "empty"),
    ],
)
def test_extract_failures_say_why(reply, reason):
    with pytest.raises(NoCodeBlock, match=reason.replace("(", r"\(").replace(")", r"\)")):
        extract_code(reply)


def test_first_turn_prompt_names_method_and_class():
    text = prompts.first_turn_prompt(
        method="mean",
        class_name="Stats",
        declaration="def mean(self, xs):",
        docstring="Average.",
        file_content="class Stats:\n    def mean(self, xs):\n        ...\n",
        path="stats.py",
        line=1,
    )
    assert text.startswith("Generate code for the method `mean` in the class `Stats`")
    assert "def mean(self, xs):" in text and "Docstring: Average." in text


def test_function_prompt_and_missing_docstring():
    text = prompts.first_turn_prompt(
        method="mean",
        class_name=None,
        declaration="def mean(xs):",
        docstring=None,
        file_content="",
        path="s.py",
        line=0,
    )
    assert text.startswith("Generate code for the function `mean`")
    assert "Docstring: (none)" in text


def test_iteration_prompt_is_the_thesis_template():
    assert (
        prompts.iteration_prompt("1 failed\n") == "Correct the answer. Tests failed:\nTEST_RESULT:\n1 failed"
    )


def test_extract_drops_stray_fence_lines():
    reply = "def f():\n    return 1\n```\n"
    assert extract_code(reply) == "def f():\n    return 1"
