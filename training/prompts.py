"""Prompts that only training sends: eliciting and compressing reasoning for think-mode items.

The repair conversation itself (system prompt, first-turn and iteration prompts, code replies)
comes from `repomend.contract.prompts`, the one train/serve contract; these prompts go to a teacher,
never to the model being trained, and only the reasoning they produce enters a dataset.
"""

from __future__ import annotations

ELICIT_SYSTEM = (
    "You are an expert Python programmer. You think through a programming task step by step "
    "before answering, in the first person, as if solving it for the first time."
)

ELICIT_PROMPT = """Here is a task:
<task>
{task}
</task>
{attempt}
The correct answer to the task is:
```python
{solution}
```
Think through the task as if you were solving it yourself and had not been shown the answer: \
{goal} Your thinking must lead to exactly this answer. Never mention that the answer was given to you."""

ELICIT_ATTEMPT = """
A previous answer was:
```python
{attempt}
```
and the project's tests reported:
<feedback>
{feedback}
</feedback>
"""

GOAL_REPAIR = "read the test feedback, find what is wrong in the previous answer and how to fix it."
GOAL_GENERATE = "work out from the declaration, docstring and the rest of the file what the method must do."

COMPRESS_PROMPT = """Shorten the following reasoning to at most {limit} tokens. Keep every step that is \
needed to reach the answer (the cause of the failure and the fix), drop repetition, hesitation and \
restated code. Write it in the first person, as the same thinking, and output only the shortened reasoning.

<reasoning>
{reasoning}
</reasoning>"""


def elicit_prompt(
    *, task: str, solution: str, attempt: str | None = None, feedback: str | None = None
) -> str:
    """Minimal intervention: the teacher sees the task, the failed attempt and feedback, and the answer."""
    has_attempt = attempt is not None and feedback is not None
    return ELICIT_PROMPT.format(
        task=task.strip(),
        attempt=ELICIT_ATTEMPT.format(attempt=attempt.rstrip(), feedback=feedback.strip())
        if has_attempt
        else "",
        solution=solution.rstrip(),
        goal=GOAL_REPAIR if has_attempt else GOAL_GENERATE,
    )


def compress_prompt(reasoning: str, limit: int) -> str:
    return COMPRESS_PROMPT.format(reasoning=reasoning.strip(), limit=limit)
