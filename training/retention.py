"""Which parts of a teacher's repair trajectory become training items: retention rules a, b and c
(the multi-turn trajectory distillation of *Fixing on the Fly*, summarised in DESIGN.md).

  a  failed first answer, fixed within k turns -> the conversation up to the fix;
  b  never fixed                               -> the last attempt and its feedback, answered
                                                 with the ground truth;
  c  fixed by the first answer                 -> a single-turn generation item.

Ground-truth doubling: every item whose last turn is the teacher's own fix is repeated with the
ground truth in its place (same input, the repository's answer), so the student sees both.
Identical items (normalised text) are kept once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from repomend.contract import prompts
from repomend.contract.conversation import Message
from repomend.trajectory import Status, Trajectory
from training.normalize import messages_hash
from training.records import MethodRecord

Rule = Literal["a", "b", "c"]
Target = Literal["teacher", "ground_truth"]
TARGETS: tuple[Target, ...] = get_args(Target)


@dataclass(frozen=True)
class Retained:
    rule: Rule
    target: Target
    messages: list[Message]

    @property
    def hash(self) -> str:
        return messages_hash(self.messages)


def retain(trajectory: Trajectory, record: MethodRecord) -> list[Retained]:
    """Items from one loop run; a run that tested nothing (survivor, cancelled) or that the
    engine cut short yields none.

    A conversation that starts from a broken body (the loop's repair start) already holds a
    failed first answer, so fixing it on the model's first turn counts as rule a.
    """
    if trajectory.status in (Status.ALREADY_PASSING, Status.CANCELLED, Status.FAILED) or not trajectory.turns:
        return []
    messages = [dict(m) for m in trajectory.messages]
    truth: Message = {"role": "assistant", "content": record.ground_truth_reply()}
    if trajectory.status is Status.FIXED:
        failed_before = trajectory.initial_results is not None or trajectory.turns_used > 1
        rule: Rule = "a" if failed_before else "c"
        found = [
            Retained(rule, "teacher", messages),  # type: ignore[arg-type]
            Retained(rule, "ground_truth", [*messages[:-1], truth]),  # type: ignore[list-item]
        ]
    else:
        last = trajectory.turns[-1]
        if last.feedback is None:
            return []
        follow_up = last.follow_up or prompts.iteration_prompt(last.feedback)
        feedback: Message = {"role": "user", "content": follow_up}
        found = [Retained("b", "ground_truth", [*messages[:2], messages[-1], feedback, truth])]  # type: ignore[list-item]
    return unique(found)


def unique(items: list[Retained]) -> list[Retained]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item.hash not in seen:
            seen.add(item.hash)
            kept.append(item)
    return kept
