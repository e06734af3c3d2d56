"""The prompt templates the model reads, one part of the train/serve contract (`repomend.contract`).

Every caller (server, training teachers, evaluation) builds its messages here, so a model
fine-tuned on these strings sees exactly the same strings when it serves.
"""

from __future__ import annotations

from repomend.contract.conversation import Message
from repomend.source import without_docstring

SYSTEM_PROMPT = (
    "You are an expert Python programmer who repairs and completes code. "
    "Answer with a single ```python code block that contains only the complete method, "
    "starting with the method declaration (its `def` line). "
    "Do not include decorators, other functions, imports, usage examples or tests. "
    "You may leave out the docstring: it is kept."
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

FILE_CONTEXT_CHARS = 3000
"""How much of the file the first turn shows: the module's opening lines (imports, constants),
the enclosing class line, and the code nearest the target. A whole module can be 3,000+ tokens,
which a small model on a CPU pays for in every training row and every prefill, and which mostly
dilutes what a fix needs. Part of the train/serve contract, hence a constant and not a setting:
an adapter must be served with the prompts it was trained on."""
PREAMBLE_SHARE = 4
"""At most 1/4 of the budget goes to the module's opening lines."""
OMITTED = "# ... ({count} lines omitted)"

ITERATION_PROMPT = "Correct the answer. Tests failed:\nTEST_RESULT:\n{test_output}"

REPEAT_PROMPT = (
    "Your answer is the same code as an answer that already failed, so it was not tested again. "
    "Write a different implementation: change what the code does, not only how it looks.\n"
    "That code failed:\nTEST_RESULT:\n{test_output}"
)
"""After an answer that repeats tested code (the method as given included): small models
otherwise echo the broken method turn after turn."""

NEW_APPROACH = "Your last answers failed the same way: try a different approach."
"""Added when an answer fails the same tests as the one before it: a nudge out of a rut."""

OMITTED_TURNS = "({count} earlier answers and their test results are left out.)"
"""Said at the end of the opening turn when a long conversation is cut to fit the engine."""

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
    line: int,
    description: str | None = None,
) -> str:
    """The generation prompt; `file_content` is the file with the target's body removed and
    `line` the 0-based line of its `def` there (where the excerpt centres)."""
    target = f"method `{method}` in the class `{class_name}`" if class_name else f"function `{method}`"
    return GENERATE_PROMPT.format(
        target=target,
        kind="method" if class_name else "function",
        description=description or DEFAULT_DESCRIPTION,
        declaration=declaration,
        docstring=docstring or NO_DOCSTRING,
        file_content=file_excerpt(file_content, line).rstrip("\n"),
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
    line: int,
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
                line=line,
                description=description,
            ),
        },
    ]


def _is_top_level_definition(text: str) -> bool:
    return text.startswith(("def ", "async def ", "class ", "@"))


def _enclosing_class_line(lines: list[str], anchor: int) -> int | None:
    """The nearest `class` line above `anchor` indented less than the `def` there."""
    indent = _indent(lines[anchor])
    for row in range(anchor - 1, -1, -1):
        stripped = lines[row].lstrip()
        depth = _indent(lines[row])
        if stripped and depth < indent and not stripped.startswith(("#", "@", ")")):
            if stripped.startswith("class "):
                return row
            indent = depth
            if depth == 0:
                return None
    return None


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _start_at_statement(lines: list[str], kept: set[int], anchor: int, top: int) -> None:
    """Drop the window's first lines while they continue a statement (deeper than the `def`)."""
    for row in range(top, anchor):
        if row not in kept or not lines[row].strip() or _indent(lines[row]) <= _indent(lines[anchor]):
            return
        kept.discard(row)


def file_excerpt(file_content: str, line: int, budget: int = FILE_CONTEXT_CHARS) -> str:
    """`file_content` cut to about `budget` characters around `line`; gaps become `OMITTED` lines.

    Deterministic and line-based, so the same file and line always give the same prompt.
    """
    if len(file_content) <= budget:
        return file_content
    lines = file_content.split("\n")
    anchor = min(max(line, 0), len(lines) - 1)
    kept = {anchor}
    spent = len(lines[anchor]) + 1

    def take(row: int) -> bool:
        nonlocal spent
        cost = len(lines[row]) + 1
        if row in kept:
            return True
        if spent + cost > budget:
            return False
        kept.add(row)
        spent += cost
        return True

    owner = _enclosing_class_line(lines, anchor)
    if owner is not None:
        take(owner)
    for row in range(anchor):
        if _is_top_level_definition(lines[row]) or spent > budget // PREAMBLE_SHARE or not take(row):
            break
    below, above = anchor + 1, anchor - 1
    growing_below = growing_above = True
    while growing_below or growing_above:
        if growing_below:
            growing_below = below < len(lines) and take(below)
            below += 1
        if growing_above:
            growing_above = above >= 0 and take(above)
            above -= 1
    _start_at_statement(lines, kept, anchor, above + 2)
    out: list[str] = []
    rows = sorted(kept)
    for position, row in enumerate(rows):
        gap = row - (rows[position - 1] + 1 if position else 0)
        if gap:
            shown = next((lines[r] for r in rows[position:] if lines[r].strip()), "")
            out.append(" " * _indent(shown) + OMITTED.format(count=gap))
        out.append(lines[row])
    if rows[-1] < len(lines) - 1:
        out.append(OMITTED.format(count=len(lines) - 1 - rows[-1]))
    return "\n".join(out)


def iteration_prompt(test_output: str, *, repeat: bool = False, stuck: bool = False) -> str:
    """The user turn after a failed answer; `repeat`: the answer was code already tested,
    `stuck`: it failed the same tests as the answer before it."""
    template = REPEAT_PROMPT if repeat else ITERATION_PROMPT
    text = template.format(test_output=test_output.rstrip("\n"))
    return f"{text}\n{NEW_APPROACH}" if stuck and not repeat else text


def as_code_reply(code: str) -> str:
    """An assistant turn holding `code` the way the system prompt asks for it."""
    return f"```python\n{code.rstrip()}\n```"


def history_code(code: str) -> str:
    """An answer as the conversation keeps it: the code without its docstring (the opening turn
    shows the docstring once; five answers repeating it outgrow a small model's context)."""
    return as_code_reply(without_docstring(code))
