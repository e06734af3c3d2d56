"""CodeBLEU's defining properties on Python methods."""

from __future__ import annotations

import pytest

from training.codebleu import code_tokens, codebleu, corpus_codebleu

MEAN = """def mean(self):
    total = 0
    for x in self.xs:
        total += x
    return total / len(self.xs)"""


def test_identical_code_scores_one_in_every_component():
    score = codebleu(MEAN, MEAN)
    assert score.score == pytest.approx(1.0)
    assert (score.bleu, score.weighted_ngram, score.syntax, score.dataflow) == pytest.approx((1, 1, 1, 1))


def test_layout_and_comments_do_not_count():
    reformatted = MEAN.replace("total / len", "total/len").replace("total = 0", "total = 0  # start")
    assert codebleu(reformatted, MEAN).score == pytest.approx(1.0)


def test_unrelated_code_scores_near_zero():
    score = codebleu("import os\nprint(os.getcwd())", MEAN)
    assert score.score < 0.1
    assert score.bleu < 0.01 and score.syntax < 0.2  # only `a.b` and `f(...)` shapes in common


def test_renaming_variables_keeps_syntax_and_dataflow_but_costs_ngrams():
    renamed = codebleu(MEAN.replace("total", "acc").replace(" x", " item").replace("+= x", "+= item"), MEAN)
    assert renamed.syntax == pytest.approx(1.0) and renamed.dataflow == pytest.approx(1.0)
    assert renamed.bleu < 0.9 and 0.7 < renamed.score < 1.0


def test_more_damage_scores_lower():
    one_bug = MEAN.replace("total / len", "total * len")
    two_bugs = one_bug.replace("total += x", "total = x")
    rewritten = "def mean(self):\n    return sum(self.xs) / len(self.xs)"
    scores = [codebleu(candidate, MEAN).score for candidate in (MEAN, one_bug, two_bugs, rewritten, "")]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)


def test_keywords_weigh_more_than_identifiers_in_the_weighted_match():
    reference = "def f(a, b):\n    if a:\n        return b\n    return None"
    lost_keyword = "def f(a, b):\n    when a:\n        return b\n    return None"
    lost_name = "def f(a, b):\n    if z:\n        return b\n    return None"
    assert codebleu(lost_keyword, reference).weighted_ngram < codebleu(lost_name, reference).weighted_ngram
    assert codebleu(lost_keyword, reference).bleu == pytest.approx(codebleu(lost_name, reference).bleu)


def test_code_without_data_flow_rests_on_the_other_components():
    score = codebleu("def answer():\n    return 42", "def answer():\n    return 42")
    assert score.dataflow is None and score.score == pytest.approx(1.0)


def test_corpus_score_pools_counts():
    pairs = [(MEAN, MEAN), ("import os", MEAN)]
    pooled = corpus_codebleu(pairs).score
    each = [codebleu(c, r).score for c, r in pairs]
    assert min(each) < pooled < max(each)
    assert corpus_codebleu([(MEAN, MEAN)]).score == pytest.approx(codebleu(MEAN, MEAN).score)


def test_tokens_split_operators_and_keep_strings_whole():
    assert code_tokens('x **= f"a b"  # note\nreturn a>=b') == [
        "x",
        "**=",
        'f"a b"',
        "return",
        "a",
        ">=",
        "b",
    ]


def test_broken_candidates_do_not_raise():
    assert 0.0 <= codebleu("def mean(self:\n    return (", MEAN).score < 0.5
