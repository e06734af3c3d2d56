"""Learning from use: accepted fixes become training items, accepted vs rejected ones preference pairs.

A repair row keeps the conversation the model saw; its prompt (everything before the model's first
turn) is paired with what the user kept. Methods held out for evaluation are left out, so the gate
never scores an adapter on a fix it was trained on, and so is every fix whose prompt showed a
held-out body (the file excerpt around the method the user asked about can hold a neighbour's).
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from repomend.contract.prompts import as_code_reply
from server.db.models import Feedback, Repair, Verdict
from training.heldout_bodies import shows_body
from training.normalize import messages_hash, normalize_code

USERS_TEACHER = "users"
"""The teacher name accepted fixes carry in datasets, so manifests count them apart."""


@dataclass(frozen=True)
class Kept:
    repair: Repair
    verdict: Verdict
    proposed: str | None
    """The fix the model proposed (column-0 form)."""
    kept: str | None
    """What the user kept: the edited text when given, else the proposal when accepted."""


def method_id(repair: Repair) -> str:
    return f"{repair.file_path}::{repair.qualname}"


def prompt_of(repair: Repair) -> list[dict]:
    """The messages before the model's first turn: [system, user] or, for a broken method, the
    broken method as the failed first answer and its test feedback too."""
    messages = repair.messages or []
    model_turns = len({turn.turn for turn in repair.turns})
    return [dict(m) for m in messages[: len(messages) - (2 * model_turns - 1)]] if model_turns else []


def _column0(text: str | None) -> str | None:
    return textwrap.dedent(text).strip("\n") + "\n" if text and text.strip() else None


def judged_repairs(session: Session, repository_id: int, heldout: Collection[str] = ()) -> list[Kept]:
    rows = session.scalars(
        select(Repair)
        .join(Feedback, Feedback.repair_id == Repair.id)
        .where(Repair.repository_id == repository_id, Repair.messages.is_not(None))
        .order_by(Repair.id)
    )
    judged = []
    for repair in rows:
        if method_id(repair) in heldout or not prompt_of(repair):
            continue
        verdict = repair.feedback.verdict  # type: ignore[union-attr]
        proposed = _column0(repair.new_method)
        edited = _column0(repair.feedback.final_text)  # type: ignore[union-attr]
        kept = edited or (proposed if verdict is Verdict.ACCEPTED else None)
        judged.append(Kept(repair, verdict, proposed, kept if verdict is Verdict.ACCEPTED else edited))
    return judged


def without_heldout_bodies(
    judged: list[Kept], heldout: Mapping[str, Sequence[str]]
) -> tuple[list[Kept], int]:
    """The judged fixes whose prompt shows none of the held-out methods (`heldout`: file path ->
    their method texts), and how many were left out."""
    kept = []
    for entry in judged:
        shown = "\n".join(m["content"] for m in prompt_of(entry.repair))
        if not any(shows_body(shown, text) for text in heldout.get(entry.repair.file_path, ())):
            kept.append(entry)
    return kept, len(judged) - len(kept)


def accepted_items(judged: list[Kept]) -> list[dict]:
    """Trajectory items (the format `repomend train generate` writes) for every accepted fix."""
    items = []
    for entry in judged:
        if entry.verdict is not Verdict.ACCEPTED or entry.kept is None:
            continue
        messages = [*prompt_of(entry.repair), {"role": "assistant", "content": as_code_reply(entry.kept)}]
        items.append(
            {
                "hash": messages_hash(messages),
                "teacher": USERS_TEACHER,
                "method": method_id(entry.repair),
                "variant": f"repair-{entry.repair.id}",
                "split": "train",
                "rule": "accepted",
                "target": "user",
                "turns": 1,
                "mode": entry.repair.mode.value,
                "start": "user",
                "model": entry.repair.model,
                "messages": messages,
            }
        )
    return items


def preference_pairs(judged: list[Kept]) -> list[dict]:
    """Pairs for DPO: what users kept is preferred over a fix they rejected or edited for that method."""
    kept_by_method: dict[str, list[str]] = defaultdict(list)
    for entry in judged:
        if entry.verdict is Verdict.ACCEPTED and entry.kept:
            kept_by_method[method_id(entry.repair)].append(entry.kept)
    pairs = []
    for entry in judged:
        if not entry.proposed:
            continue
        own = [entry.kept] if entry.verdict is Verdict.ACCEPTED and entry.kept else []
        candidates = own if own else kept_by_method.get(method_id(entry.repair), [])
        for chosen in candidates:
            if normalize_code(chosen) == normalize_code(entry.proposed):
                continue  # accepted as proposed: nothing to prefer
            pairs.append(
                {
                    "prompt": prompt_of(entry.repair),
                    "chosen": [{"role": "assistant", "content": as_code_reply(chosen)}],
                    "rejected": [{"role": "assistant", "content": as_code_reply(entry.proposed)}],
                    "meta": {"method": method_id(entry.repair), "repair": entry.repair.id},
                }
            )
            break
    return pairs
