"""Deterministic train / validation / held-out split by method (or by file).

Each unit's split depends only on its own key and the seed, so adding a method to the
repository never moves another one between splits. Methods whose code is identical up to
layout are tied together: a held-out method never has a copy in the training data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from training.normalize import normalize_code
from training.records import Split

SplitUnit = Literal["method", "file"]


def split_of(key: str, *, seed: int, heldout_fraction: float, validation_fraction: float) -> Split:
    """Place `key` by a uniform number drawn from sha256(seed, key)."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    if draw < heldout_fraction:
        return "heldout"
    if draw < heldout_fraction + validation_fraction:
        return "validation"
    return "train"


def check_fractions(heldout_fraction: float, validation_fraction: float) -> None:
    if not (0 <= heldout_fraction < 1 and 0 <= validation_fraction < 1):
        raise ValueError("split fractions must lie in [0, 1)")
    if heldout_fraction + validation_fraction >= 1:
        raise ValueError("held-out and validation fractions together must leave some training methods")


@dataclass(frozen=True)
class SplitItem:
    id: str
    path: str
    method_text: str


def assign_splits(
    items: Sequence[SplitItem],
    *,
    seed: int,
    heldout_fraction: float,
    validation_fraction: float,
    unit: SplitUnit = "method",
) -> dict[str, Split]:
    """Method id -> split. Units holding identical code share the split of their smallest key."""
    check_fractions(heldout_fraction, validation_fraction)
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    unit_of = {item.id: (item.path if unit == "file" else item.id) for item in items}
    first_with_code: dict[str, str] = {}
    for item in items:
        find(unit_of[item.id])
        code = normalize_code(item.method_text)
        if code in first_with_code:
            union(first_with_code[code], unit_of[item.id])
        else:
            first_with_code[code] = unit_of[item.id]
    return {
        item.id: split_of(
            find(unit_of[item.id]),
            seed=seed,
            heldout_fraction=heldout_fraction,
            validation_fraction=validation_fraction,
        )
        for item in items
    }
