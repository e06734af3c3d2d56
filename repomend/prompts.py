"""The prompt templates: the one contract between training and serving.

Every caller (server, training teachers, evaluation) builds its messages here, so a model
fine-tuned on these strings sees exactly the same strings when it serves.
"""

from __future__ import annotations

from repomend.conversation import Message

SYSTEM_PROMPT = (
    "You are an expert Python programmer who repairs and completes code. "
    "Answer with a single ```python code block that contains only the complete method, "
    "starting with the method declaration (its `def` line). "
    "Do not include decorators, other functions, imports, usage examples or tests."
)

GENERATE_PROMPT = """Generate code for the {target} so that the project's tests pass.
Description: {description}
Declaration:
```python
{declaration}
```
Docstring: {docstring}
File `{path}` with the {kind}'s body removed:
```python
{file_content}
```"""

ITERATION_PROMPT = "Correct the answer. Tests failed:\nTEST_RESULT:\n{test_output}"

DEFAULT_DESCRIPTION = "Implement it so that the project's tests pass."
NO_DOCSTRING = "(none)"


def first_turn_prompt(
    *,
    method: str,
    class_name: str | None,
    declaration: str,
    docstring: str | None,
    file_content: str,
    path: str,
    description: str | None = None,
) -> str:
    """The generation prompt; `file_content` is the file with the target's body removed."""
    target = f"method `{method}` in the class `{class_name}`" if class_name else f"function `{method}`"
    return GENERATE_PROMPT.format(
        target=target,
        kind="method" if class_name else "function",
        description=description or DEFAULT_DESCRIPTION,
        declaration=declaration,
        docstring=docstring or NO_DOCSTRING,
        file_content=file_content.rstrip("\n"),
        path=path,
    )


def opening_messages(
    *,
    method: str,
    class_name: str | None,
    declaration: str,
    docstring: str | None,
    file_content: str,
    path: str,
    description: str | None = None,
) -> list[Message]:
    """System prompt + first-turn prompt: how every conversation about a method starts."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": first_turn_prompt(
                method=method,
                class_name=class_name,
                declaration=declaration,
                docstring=docstring,
                file_content=file_content,
                path=path,
                description=description,
            ),
        },
    ]


def iteration_prompt(test_output: str) -> str:
    return ITERATION_PROMPT.format(test_output=test_output.rstrip("\n"))


def as_code_reply(code: str) -> str:
    """An assistant turn holding `code` the way the system prompt asks for it."""
    return f"```python\n{code.rstrip()}\n```"
