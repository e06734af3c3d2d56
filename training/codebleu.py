"""CodeBLEU for Python (Ren et al. 2020, "CodeBLEU: a Method for Automatic Evaluation of Code Synthesis").

    CodeBLEU = 0.25 * BLEU + 0.25 * weighted n-gram match + 0.25 * syntax match + 0.25 * dataflow match

- BLEU: clipped n-gram precision, n = 1..4, geometric mean, brevity penalty, over code tokens
  (identifiers, literals, operators; comments dropped).
- Weighted n-gram match: as the reference implementation, clipped n-gram *recall* where each
  reference unigram weighs 1.0 when it is a Python keyword and 0.2 otherwise (n > 1 unweighted).
- Syntax match: share of the reference's syntax subtrees (tree-sitter, node types only) that also
  occur in the candidate.
- Dataflow match: share of the reference's data-flow edges ("x comes from x", "a is computed
  from b, c") that the candidate has, variables renamed by order of first appearance so naming
  does not matter.

Scores are built from counts, so a corpus score sums the counts of all pairs (as the paper does)
and a single pair is the corpus of one. Zero n-gram counts are smoothed with 0.1 (Chen & Cherry's
method 1) so one missing 4-gram does not zero a sentence. A component whose reference has
nothing to count (no data flow in `return 1`) is left out and the other weights rescaled. The
PyPI package `codebleu` pins an older tree-sitter than repomend's, hence this module.
"""

from __future__ import annotations

import keyword
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import tree_sitter_python
from tree_sitter import Language, Node, Parser

WEIGHTS = (0.25, 0.25, 0.25, 0.25)
KEYWORD_WEIGHT = 1.0
OTHER_WEIGHT = 0.2
MAX_N = 4
SMOOTHING = 0.1
KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
_PARSER = Parser(Language(tree_sitter_python.language()))

_TOKEN = re.compile(
    r'[rRbBuUfF]{0,2}(?:"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')'
    r"|#[^\n]*"
    r"|\d[\w.]*"
    r"|\w+"
    r"|\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%&|^@<>=!]=|\S"
)


def code_tokens(code: str) -> list[str]:
    """Python tokens without comments; never fails on broken code."""
    return [token for token in _TOKEN.findall(code) if not token.startswith("#")]


@dataclass
class _Counts:
    """Sufficient statistics of one or more (candidate, reference) pairs."""

    matches: list[float] = field(default_factory=lambda: [0.0] * MAX_N)
    totals: list[float] = field(default_factory=lambda: [0.0] * MAX_N)
    """BLEU: clipped candidate n-grams found in the reference / candidate n-grams."""
    weighted_matches: list[float] = field(default_factory=lambda: [0.0] * MAX_N)
    weighted_totals: list[float] = field(default_factory=lambda: [0.0] * MAX_N)
    """Weighted n-gram match: clipped matches / reference n-grams, keyword-weighted unigrams."""
    candidate_length: int = 0
    reference_length: int = 0
    syntax_matches: int = 0
    syntax_total: int = 0
    dataflow_matches: int = 0
    dataflow_total: int = 0

    def add(self, other: _Counts) -> None:
        for n in range(MAX_N):
            self.matches[n] += other.matches[n]
            self.totals[n] += other.totals[n]
            self.weighted_matches[n] += other.weighted_matches[n]
            self.weighted_totals[n] += other.weighted_totals[n]
        self.candidate_length += other.candidate_length
        self.reference_length += other.reference_length
        self.syntax_matches += other.syntax_matches
        self.syntax_total += other.syntax_total
        self.dataflow_matches += other.dataflow_matches
        self.dataflow_total += other.dataflow_total


@dataclass(frozen=True)
class CodeBLEU:
    score: float
    bleu: float
    weighted_ngram: float
    syntax: float | None
    """None when the reference has no syntax subtree (empty code)."""
    dataflow: float | None
    """None when the reference has no data flow; the score then rests on the other components."""

    def to_dict(self) -> dict[str, float | None]:
        return {
            "codebleu": self.score,
            "bleu": self.bleu,
            "weighted_ngram": self.weighted_ngram,
            "syntax": self.syntax,
            "dataflow": self.dataflow,
        }


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _brevity_penalty(candidate_length: int, reference_length: int) -> float:
    if candidate_length == 0:
        return 0.0
    if candidate_length >= reference_length:
        return 1.0
    return math.exp(1 - reference_length / candidate_length)


def _geometric_mean(matches: Sequence[float], totals: Sequence[float]) -> float:
    if not any(totals) or not any(matches):
        return 0.0
    logs = []
    for match, total in zip(matches, totals, strict=True):
        if total == 0:
            continue  # no n-grams of this order at all (very short code): not evidence either way
        logs.append(math.log((match if match > 0 else SMOOTHING) / total))
    return math.exp(sum(logs) / len(logs)) if logs else 0.0


# -- syntax --------------------------------------------------------------------------------------


def _parse(code: str) -> Node:
    return _PARSER.parse(code.encode("utf-8")).root_node


def _subtrees(root: Node) -> list[str]:
    """Every inner named node as an s-expression of node types (no identifiers, no literals' text);
    leaves (a lone identifier or number) are left out as in the reference, they match anything."""
    found: list[str] = []

    def visit(node: Node) -> str:
        children = [visit(child) for child in node.named_children if child.type != "comment"]
        text = f"({node.type}{' ' + ' '.join(children) if children else ''})"
        if node.child_count and node.type not in ("module", "comment"):
            found.append(text)
        return text

    visit(root)
    return found


# -- data flow -------------------------------------------------------------------------------------

_ASSIGNMENTS = ("assignment", "augmented_assignment")
_SCOPES = ("function_definition", "lambda", "class_definition")


def _names(node: Node | None) -> list[str]:
    """Variable names read in an expression (attributes of an object count as the object)."""
    if node is None:
        return []
    if node.type == "identifier":
        return [_text(node)]
    names: list[str] = []
    for child in node.named_children:
        if node.type == "attribute" and child == node.child_by_field_name("attribute"):
            continue
        if node.type == "keyword_argument" and child == node.child_by_field_name("name"):
            continue
        names += _names(child)
    return names


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


class _DataFlow:
    """Edges in the order the code runs them (as the reference DFG): reads come from the last
    definition, assignments and loop targets are computed from the names on their right."""

    def __init__(self) -> None:
        self.defined: set[str] = set()
        self.edges: list[tuple[str, str, tuple[str, ...]]] = []

    def read(self, node: Node | None) -> None:
        for name in _names(node):
            self.edges.append((name, "comesFrom", (name,) if name in self.defined else ()))

    def define(self, target: Node | None, sources: list[str]) -> None:
        for name in _names(target):
            self.edges.append((name, "computedFrom", tuple(sorted(set(sources)))))
            self.defined.add(name)

    def visit(self, node: Node) -> None:
        kind = node.type
        if kind in _ASSIGNMENTS:
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            self.visit_expression(right)
            sources = _names(right) + (_names(left) if kind == "augmented_assignment" else [])
            self.define(left, sources)
        elif kind in ("for_statement", "for_in_clause"):
            right = node.child_by_field_name("right")
            self.visit_expression(right)
            self.define(node.child_by_field_name("left"), _names(right))
            for child in node.named_children:
                if child not in (right, node.child_by_field_name("left")):
                    self.visit(child)
        elif kind == "function_definition" or kind == "lambda":
            parameters = node.child_by_field_name("parameters")
            for name in _names(parameters):
                if name not in self.defined:
                    self.edges.append((name, "comesFrom", ()))
                    self.defined.add(name)
            body = node.child_by_field_name("body")
            if body is not None:
                self.visit(body)
        elif kind in ("identifier", "attribute"):
            self.read(node)
        elif kind == "keyword_argument":
            self.visit_expression(node.child_by_field_name("value"))
        else:
            for child in node.named_children:
                self.visit(child)

    def visit_expression(self, node: Node | None) -> None:
        if node is not None:
            self.visit(node)


def _dataflow(code: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Edges with variables renamed `var_0, var_1, ...` by first appearance (parents first)."""
    flow = _DataFlow()
    flow.visit(_parse(code))
    names: dict[str, str] = {}

    def rename(name: str) -> str:
        return names.setdefault(name, f"var_{len(names)}")

    normalised = []
    for name, relation, parents in flow.edges:
        renamed_parents = tuple(rename(parent) for parent in parents)
        normalised.append((rename(name), relation, renamed_parents))
    return normalised


# -- scoring ---------------------------------------------------------------------------------------


def _counts(candidate: str, reference: str) -> _Counts:
    counts = _Counts()
    hyp, ref = code_tokens(candidate), code_tokens(reference)
    counts.candidate_length, counts.reference_length = len(hyp), len(ref)
    unigram_weight = {token: KEYWORD_WEIGHT if token in KEYWORDS else OTHER_WEIGHT for token in ref}
    for n in range(1, MAX_N + 1):
        hyp_grams, ref_grams = _ngrams(hyp, n), _ngrams(ref, n)
        clipped = {gram: min(count, ref_grams[gram]) for gram, count in hyp_grams.items()}
        counts.matches[n - 1] = sum(clipped.values())
        counts.totals[n - 1] = sum(hyp_grams.values())

        def weight(gram: tuple[str, ...], order: int = n) -> float:
            return unigram_weight.get(gram[0], OTHER_WEIGHT) if order == 1 else 1.0

        counts.weighted_matches[n - 1] = sum(c * weight(g) for g, c in clipped.items())
        counts.weighted_totals[n - 1] = sum(c * weight(g) for g, c in ref_grams.items())

    candidate_trees = Counter(_subtrees(_parse(candidate)))
    reference_trees = _subtrees(_parse(reference))
    counts.syntax_total = len(reference_trees)
    counts.syntax_matches = sum(1 for tree in reference_trees if candidate_trees[tree] > 0)

    candidate_flow = Counter(_dataflow(candidate))
    reference_flow = _dataflow(reference)
    counts.dataflow_total = len(reference_flow)
    for edge in reference_flow:
        if candidate_flow[edge] > 0:
            candidate_flow[edge] -= 1
            counts.dataflow_matches += 1
    return counts


def _score(counts: _Counts, weights: Sequence[float] = WEIGHTS) -> CodeBLEU:
    penalty = _brevity_penalty(counts.candidate_length, counts.reference_length)
    bleu = penalty * _geometric_mean(counts.matches, counts.totals)
    weighted = penalty * _geometric_mean(counts.weighted_matches, counts.weighted_totals)
    syntax = counts.syntax_matches / counts.syntax_total if counts.syntax_total else None
    dataflow = counts.dataflow_matches / counts.dataflow_total if counts.dataflow_total else None
    parts = [(weights[0], bleu), (weights[1], weighted), (weights[2], syntax), (weights[3], dataflow)]
    present = [(w, value) for w, value in parts if value is not None]
    total_weight = sum(w for w, _ in present)
    score = sum(w * value for w, value in present) / total_weight if total_weight else 0.0
    return CodeBLEU(score, bleu, weighted, syntax, dataflow)


def codebleu(candidate: str, reference: str, weights: Sequence[float] = WEIGHTS) -> CodeBLEU:
    """CodeBLEU of one candidate against its reference."""
    return _score(_counts(candidate, reference), weights)


def corpus_codebleu(pairs: Iterable[tuple[str, str]], weights: Sequence[float] = WEIGHTS) -> CodeBLEU:
    """CodeBLEU of many (candidate, reference) pairs, counts summed over the corpus as in the paper."""
    total = _Counts()
    for candidate, reference in pairs:
        total.add(_counts(candidate, reference))
    return _score(total, weights)
