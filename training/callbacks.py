"""The trainer callback that stops a run when its caller asks (a job cancelled, Ctrl-C in a server)."""

from __future__ import annotations

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
