"""No training prompt shows a held-out body, and held-out prompts are the file as the user has it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from repomend.source import find_method, prompt_view, remove_body
from tests.support.repos import SHAPES_SOURCE
from training.generate import current_source
from training.heldout_bodies import hide_heldout_bodies

HELD_OUT = ("Box.largest", "clamp")


def held_out(shapes_extraction) -> list:
    return [replace(r, split="heldout") if r.qualname in HELD_OUT else r for r in shapes_extraction.records]


def test_training_prompts_leave_out_held_out_bodies(shapes_extraction):
    repo = Path(shapes_extraction.manifest.repository)
    records = hide_heldout_bodies(held_out(shapes_extraction), repo)
    bodies = [r.body.strip() for r in records if r.split == "heldout"]
    for record in records:
        prompt = "\n".join(m["content"] for m in record.opening_messages())
        if record.split == "heldout":
            assert record.hidden_bodies == []
            assert record.masked_file == remove_body(
                SHAPES_SOURCE, find_method(SHAPES_SOURCE, record.qualname)
            )
        else:
            assert record.hidden_bodies == sorted(HELD_OUT)
            assert not any(body in prompt for body in bodies), record.id
            # the rest of the file is still there: the other training methods' bodies
            assert "return [v * factor for v in values]" in prompt or record.qualname == "scale"


def test_the_excerpt_still_centres_on_the_method(shapes_extraction):
    repo = Path(shapes_extraction.manifest.repository)
    scale = {r.qualname: r for r in hide_heldout_bodies(held_out(shapes_extraction), repo)}["scale"]
    assert scale.masked_file.split("\n")[scale.line] == "def scale(values, factor):"
    assert scale.line < SHAPES_SOURCE.splitlines().index(
        "def scale(values, factor):"
    )  # clamp shrank above it


def test_a_masked_record_still_matches_its_file(shapes_extraction):
    """Generation checks that the file has not changed since extraction; masking is not a change."""
    repo = Path(shapes_extraction.manifest.repository)
    for record in hide_heldout_bodies(held_out(shapes_extraction), repo):
        assert current_source(repo, record) == SHAPES_SOURCE
    text, _ = prompt_view(SHAPES_SOURCE, "scale", ["clamp"])
    edited = replace(record, masked_file=text.replace("factor]", "factor ]"))
    assert current_source(repo, edited) is None


LONGEST = '''def longest(words):
    """The longest word."""
    best = ""
    for word in words:
        if len(word) > len(best):
            best = word
    return best
'''


def test_a_prompt_shows_a_body_when_two_of_its_lines_appear_in_a_row():
    """Excerpts cut files by whole lines: a body cut at the excerpt's edge still counts as shown."""
    from training.heldout_bodies import shows_body

    indented = "\n".join("    " + line for line in LONGEST.splitlines())
    assert shows_body(f"class Words:\n{indented}\n", LONGEST)
    cut = "\n".join(indented.splitlines()[-3:])  # the excerpt starts inside the body
    assert shows_body(f"# ... (40 lines omitted)\n{cut}\n", LONGEST)
    # its declaration and docstring are shown anyway, and one common line says nothing
    assert not shows_body('def longest(words):\n    """The longest word."""\n    ...\n', LONGEST)
    assert not shows_body("def other(words):\n    return best\n", LONGEST)
    assert not shows_body("anything", "def f():\n    pass\n")
