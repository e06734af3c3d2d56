"""The time budget: where it ends a run, and how it bends the learning-rate schedule to fit."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from training import callbacks


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", fake)
    return fake


def cosine_run(max_steps: int, budget: float, clock: Clock):
    import torch
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=2, num_training_steps=max_steps)
    state = SimpleNamespace(global_step=0, max_steps=max_steps)
    budget_callback = callbacks.time_budget_callback(budget)
    budget_callback.on_train_begin(None, state, None, lr_scheduler=scheduler)

    def step(seconds: float) -> tuple[float, bool]:
        """One optimiser step that took `seconds`: the rate of the next step and whether the run ends."""
        clock.now += seconds
        optimizer.step()
        scheduler.step()
        state.global_step += 1
        control = SimpleNamespace(should_training_stop=False)
        budget_callback.on_step_end(None, state, control)
        return scheduler.get_last_lr()[0], control.should_training_stop

    return step


def test_a_run_the_budget_ends_decays_its_rate_by_the_time_spent(clock):
    step = cosine_run(max_steps=100, budget=100.0, clock=clock)
    assert step(1.0) == (0.5, False)  # warm-up is by steps while the time is short
    rate, _ = step(49.0)  # half the budget spent at step 2: the schedule reads step 50 of 100
    assert rate == pytest.approx(0.5 * (1 + math.cos(math.pi * 48 / 98)))
    rates = [step(10.0) for _ in range(4)]
    assert [stop for _, stop in rates] == [False, False, False, True]  # the next 10 s would not fit
    # stopped at 90 s of 100: the rate is the cosine's at 90%, where the plan by steps was still at its peak
    assert rates[-1][0] == pytest.approx(0.5 * (1 + math.cos(math.pi * 88 / 98)))


def test_a_run_the_steps_end_keeps_its_schedule(clock):
    import torch
    from transformers import get_cosine_schedule_with_warmup

    step = cosine_run(max_steps=10, budget=1000.0, clock=clock)
    reference = get_cosine_schedule_with_warmup(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 2, 10
    ).lr_lambdas[0]
    assert [step(1.0)[0] for _ in range(9)] == pytest.approx([reference(n) for n in range(1, 10)])
