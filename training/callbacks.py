"""Trainer callbacks that end a run early: when its caller asks (a job cancelled, Ctrl-C in a
server), or when its time budget is spent."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def stop_callback(should_cancel: Callable[[], bool] | None, *, checkpoint: bool = False) -> Any:
    """A trainer callback that ends training after the step in which `should_cancel()` said stop;
    its `stopped` tells whether it did. `checkpoint` saves one first, for a resumable run (SFT)."""
    from transformers import TrainerCallback

    class Stop(TrainerCallback):
        stopped = False

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if should_cancel is not None and should_cancel():
                self.stopped = True
                if checkpoint:
                    control.should_save = True  # a checkpoint to resume from: nothing is lost
                control.should_training_stop = True
            return control

    return Stop()


def time_budget_callback(seconds: float) -> Any:
    """A trainer callback that ends training, as finished, before the first step that would end
    past `seconds` of training at the mean step time so far; its `reached` tells whether it did.
    A CPU job keeps its time; a GPU finishes the recipe long before.

    The learning-rate schedule follows whichever runs out first, steps or time: each step is read by
    the schedule as at least as far along as the time spent (at half the budget, the step halfway to
    `max_steps`), so a run the budget ends has decayed as planned instead of stopping near its peak
    rate. Only a schedule that is a function of the step (`LambdaLR`, every one transformers makes)
    is stretched; a run the steps end is unchanged."""
    from torch.optim.lr_scheduler import LambdaLR
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        reached = False
        started, first_step = 0.0, 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started, self.first_step = time.perf_counter(), state.global_step
            scheduler = kwargs.get("lr_scheduler")
            if isinstance(scheduler, LambdaLR):
                scheduler.lr_lambdas = [self._by_time(f, state.max_steps) for f in scheduler.lr_lambdas]

        def _by_time(self, by_step: Callable[[int], float], max_steps: int) -> Callable[[int], float]:
            def factor(step: int) -> float:
                spent = min((time.perf_counter() - self.started) / seconds, 1.0)
                return by_step(max(step, self.first_step + round(spent * (max_steps - self.first_step))))

            return factor

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            spent = time.perf_counter() - self.started
            steps = state.global_step - self.first_step
            if steps and spent + spent / steps > seconds and state.global_step < state.max_steps:
                self.reached = True
                control.should_training_stop = True
            return control

    return TimeBudget()
