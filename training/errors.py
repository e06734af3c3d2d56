"""What training raises: one `TrainingError` base, a `ValueError` whose message is one line for the user.

Each step has its own subclass, so a caller can catch one step's failures or all of them;
`TrainingCancelled` is no error: the caller asked to stop.
"""

from __future__ import annotations


class TrainingError(ValueError):
    """A training step cannot start or go on; the message is one line for the user."""


class TrainingCancelled(Exception):
    """The caller asked to stop: SFT leaves a checkpoint that `resume=True` continues from; DPO and
    GRPO write nothing."""


class ExtractionError(TrainingError):
    """The repository cannot be extracted."""


class GenerationError(TrainingError):
    """Generation cannot go on."""


class TeacherError(TrainingError):
    """A teacher cannot be set up as given."""


class RewardError(TrainingError):
    """A task cannot be judged (its file no longer holds the method)."""


class ReasoningError(TrainingError):
    """No usable reasoning came back."""


class DatasetError(TrainingError):
    """The dataset cannot be built as asked."""


class DatasetFolderError(TrainingError):
    """The folder is not a usable fine-tuning dataset; the message says which line and why."""


class TrainerSetupError(TrainingError):
    """A trainer's base model, starting adapter or output folder cannot be used."""


class SFTError(TrainingError):
    """Fine-tuning cannot start or go on, or an SFT setting is out of range."""


class PairsError(TrainingError):
    """No preference pairs can be made."""


class PreferenceDataError(TrainingError):
    """The pairs file is unusable; the message names the line and why."""


class PreferenceError(TrainingError):
    """DPO cannot start or go on, or a DPO setting is out of range."""


class RLError(TrainingError):
    """GRPO cannot start or go on, or a GRPO setting is out of range."""


class ManifestError(TrainingError):
    """The folder holds no readable adapter manifest."""


class BenchmarkError(TrainingError):
    """A stored benchmark cannot be replayed."""


class EvaluationError(TrainingError):
    """The evaluation cannot run as asked."""
