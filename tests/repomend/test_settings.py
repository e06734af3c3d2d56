"""Turns and samples per repair: each engine's measured default, and whatever the user sets wins."""

from __future__ import annotations

import pytest

from repomend.settings import TURNS_BY_ENGINE, Settings


@pytest.fixture(autouse=True)
def no_user_settings(monkeypatch):
    for name in ("REPOMEND_ENGINE", "REPOMEND_MAX_TURNS", "REPOMEND_SAMPLES_PER_TURN"):
        monkeypatch.delenv(name, raising=False)


def test_the_cpu_engine_samples_two_answers_a_turn_and_the_others_one():
    settings = Settings()
    assert (settings.engine, settings.max_turns, settings.samples_per_turn) == ("llamacpp", 3, 2)
    for engine in ("transformers", "openai"):
        settings = Settings(engine=engine)
        assert (settings.max_turns, settings.samples_per_turn) == TURNS_BY_ENGINE[engine] == (5, 1)


def test_the_engine_from_the_environment_picks_its_default(monkeypatch):
    monkeypatch.setenv("REPOMEND_ENGINE", "transformers")
    assert (Settings().max_turns, Settings().samples_per_turn) == (5, 1)


def test_what_the_user_sets_wins_field_by_field(monkeypatch):
    assert (Settings(max_turns=4).max_turns, Settings(max_turns=4).samples_per_turn) == (4, 2)
    monkeypatch.setenv("REPOMEND_SAMPLES_PER_TURN", "1")
    assert (Settings().max_turns, Settings().samples_per_turn) == (3, 1)
    assert Settings(engine="openai", samples_per_turn=3).samples_per_turn == 3
