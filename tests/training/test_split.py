"""The split: deterministic, disjoint, stable under additions, duplicates tied together."""

from __future__ import annotations

from collections import Counter

import pytest

from training.split import SplitItem, assign_splits, split_of

FRACTIONS = {"heldout_fraction": 0.2, "validation_fraction": 0.1}


def items(n: int) -> list[SplitItem]:
    return [
        SplitItem(f"pkg/m{i % 40}.py::f{i}", f"pkg/m{i % 40}.py", f"def f{i}():\n    return {i}")
        for i in range(n)
    ]


def test_same_seed_same_split_other_seed_other_split():
    first = assign_splits(items(500), seed=1, **FRACTIONS)
    assert first == assign_splits(items(500), seed=1, **FRACTIONS)
    other = assign_splits(items(500), seed=2, **FRACTIONS)
    assert sum(first[k] != other[k] for k in first) > 100


def test_every_method_gets_exactly_one_split_in_the_asked_shares():
    splits = assign_splits(items(4000), seed=0, **FRACTIONS)
    assert len(splits) == 4000 and set(splits.values()) == {"train", "validation", "heldout"}
    shares = Counter(splits.values())
    assert abs(shares["heldout"] / 4000 - 0.2) < 0.03
    assert abs(shares["validation"] / 4000 - 0.1) < 0.03


def test_adding_methods_never_moves_the_others():
    before = assign_splits(items(300), seed=0, **FRACTIONS)
    after = assign_splits(items(600), seed=0, **FRACTIONS)
    assert all(after[k] == v for k, v in before.items())


def test_identical_code_lands_in_one_split():
    same = "def __len__(self):\n    return len(self.items)"
    copies = [SplitItem(f"pkg/m{i}.py::C{i}.__len__", f"pkg/m{i}.py", same) for i in range(30)]
    reformatted = SplitItem(
        "pkg/z.py::Z.__len__", "pkg/z.py", "def __len__(self):\n    return len( self.items )  # n"
    )
    splits = assign_splits([*copies, reformatted, *items(50)], seed=0, **FRACTIONS)
    assert len({splits[c.id] for c in [*copies, reformatted]}) == 1


def test_file_unit_keeps_a_file_together():
    splits = assign_splits(items(400), seed=0, unit="file", **FRACTIONS)
    by_file: dict[str, set[str]] = {}
    for item in items(400):
        by_file.setdefault(item.path, set()).add(splits[item.id])
    assert all(len(s) == 1 for s in by_file.values())
    assert len({next(iter(s)) for s in by_file.values()}) > 1


def test_split_of_is_a_pure_function_of_key_and_seed():
    assert split_of("a.py::f", seed=0, **FRACTIONS) == split_of("a.py::f", seed=0, **FRACTIONS)
    assert split_of("a.py::f", seed=0, heldout_fraction=0.0, validation_fraction=0.0) == "train"


@pytest.mark.parametrize(("heldout", "validation"), [(1.0, 0.0), (-0.1, 0.1), (0.5, 0.5)])
def test_impossible_fractions_are_refused(heldout, validation):
    with pytest.raises(ValueError, match="fraction"):
        assign_splits(items(3), seed=0, heldout_fraction=heldout, validation_fraction=validation)
