"""Accepted fixes become training items and preference pairs, in the shapes training reads."""

from __future__ import annotations

import pytest

from repomend.contract.conversation import Mode
from repomend.contract.prompts import as_code_reply
from server.db import (
    Repair,
    RepairStatus,
    Repository,
    Turn,
    Verdict,
    make_engine,
    session_factory,
)
from server.retraining.from_use import (
    accepted_items,
    judged_repairs,
    preference_pairs,
    prompt_of,
    without_heldout_bodies,
)

BROKEN = "def mean(xs):\n    return sum(xs) / (len(xs) - 1)\n"
FIXED = "def mean(xs):\n    return sum(xs) / len(xs)\n"
WRONG = "def mean(xs):\n    return sum(xs)\n"
PROMPT = [
    {"role": "system", "content": "system"},
    {"role": "user", "content": "Generate code for the function `mean` ..."},
    {"role": "assistant", "content": as_code_reply(BROKEN)},
    {"role": "user", "content": "Correct the answer. Tests failed:\nTEST_RESULT:\nassert 3.0 == 2.0"},
]


@pytest.fixture
def sessions(server_settings, tmp_path):
    sessions = session_factory(make_engine(server_settings.database_url))
    with sessions() as session:
        session.add(Repository(id=1, name="stats", path=str(tmp_path), python="python3"))
        session.commit()
    return sessions


def _repair(session, proposal: str, verdict: Verdict | None, kept: str | None = None, turns: int = 1, **kw):
    answers = [{"role": "assistant", "content": as_code_reply(WRONG)}, {"role": "user", "content": "again"}]
    prompt = kw.get("prompt", PROMPT)
    messages = [*prompt, *answers * (turns - 1), {"role": "assistant", "content": as_code_reply(proposal)}]
    repair = Repair(
        repository_id=1,
        model="m",
        mode=Mode.NO_THINK,
        max_turns=5,
        status=RepairStatus.FIXED,
        file_path=kw.get("path", "stats.py"),
        qualname="mean",
        new_method="    " + proposal.replace("\n", "\n    ").rstrip() + "\n",  # as it reads in a class
        original_method=BROKEN,
        messages=messages,
    )
    repair.turns = [Turn(turn=index, reply="r") for index in range(1, turns + 1)]
    if verdict is not None:
        repair.give_feedback(verdict, final_text=kept)
    session.add(repair)
    session.commit()
    return repair


def test_the_prompt_is_everything_before_the_models_first_turn(sessions):
    with sessions() as session:
        assert prompt_of(_repair(session, FIXED, None, turns=3)) == PROMPT


def test_an_accepted_fix_becomes_an_item_ending_with_what_the_user_kept(sessions):
    with sessions() as session:
        _repair(session, FIXED, Verdict.ACCEPTED, turns=2)
        _repair(session, WRONG, Verdict.REJECTED)
        _repair(session, WRONG, None)  # no verdict: not a signal
        items = accepted_items(judged_repairs(session, 1))
    assert len(items) == 1
    item = items[0]
    assert item["messages"] == [*PROMPT, {"role": "assistant", "content": as_code_reply(FIXED)}]
    assert (item["teacher"], item["rule"], item["method"], item["split"]) == (
        "users",
        "accepted",
        "stats.py::mean",
        "train",
    )


def test_what_the_user_edited_is_preferred_over_the_proposal(sessions):
    edited = "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0\n"
    with sessions() as session:
        _repair(session, FIXED, Verdict.ACCEPTED, kept=edited)
        judged = judged_repairs(session, 1)
        items, pairs = accepted_items(judged), preference_pairs(judged)
    assert items[0]["messages"][-1]["content"] == as_code_reply(edited)
    assert len(pairs) == 1
    assert pairs[0]["chosen"] == [{"role": "assistant", "content": as_code_reply(edited)}]
    assert pairs[0]["rejected"] == [{"role": "assistant", "content": as_code_reply(FIXED)}]
    assert pairs[0]["prompt"] == PROMPT


def test_a_rejected_fix_pairs_with_an_accepted_one_for_the_same_method_only(sessions):
    with sessions() as session:
        _repair(session, FIXED, Verdict.ACCEPTED)  # accepted as proposed: no pair of its own
        _repair(session, WRONG, Verdict.REJECTED)
        _repair(session, WRONG, Verdict.REJECTED, path="other.py")  # nothing accepted there
        pairs = preference_pairs(judged_repairs(session, 1))
    assert [(p["meta"]["method"], p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [
        ("stats.py::mean", as_code_reply(FIXED), as_code_reply(WRONG))
    ]


def test_held_out_methods_never_become_training_data(sessions):
    with sessions() as session:
        _repair(session, FIXED, Verdict.ACCEPTED)
        _repair(session, WRONG, Verdict.REJECTED)
        judged = judged_repairs(session, 1, heldout={"stats.py::mean"})
    assert accepted_items(judged) == [] and preference_pairs(judged) == []


NEIGHBOUR = (
    'def spread(xs):\n    """Largest minus smallest."""\n    low, high = min(xs), max(xs)\n'
    "    return high - low\n"
)


def test_a_fix_whose_prompt_showed_a_held_out_body_never_becomes_training_data(sessions):
    """The file excerpt around `mean` may hold a held-out neighbour: its body must not be trained on."""
    header = "class Stats:\n    def spread(self, xs):\n"
    excerpt = header + "        low, high = min(xs), max(xs)\n        return high - low\n"
    docstring_only = header + '        """Largest minus smallest."""\n        ...\n'
    showing = [PROMPT[0], {"role": "user", "content": f"Generate code for `mean`.\n{excerpt}"}]
    masked = [PROMPT[0], {"role": "user", "content": f"Generate code for `mean`.\n{docstring_only}"}]
    with sessions() as session:
        _repair(session, FIXED, Verdict.ACCEPTED, prompt=showing)
        _repair(session, FIXED, Verdict.ACCEPTED, prompt=masked)
        _repair(session, FIXED, Verdict.ACCEPTED, prompt=showing, path="other.py")  # another file
        judged, left_out = without_heldout_bodies(judged_repairs(session, 1), {"stats.py": [NEIGHBOUR]})
    assert left_out == 1
    assert [(k.repair.file_path, k.repair.messages[1]) for k in judged] == [
        ("stats.py", masked[1]),
        ("other.py", showing[1]),
    ]
