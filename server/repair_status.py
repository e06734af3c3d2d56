"""Where a repair stands on the server: its job's lifecycle, then its outcome.

A job is queued, runs and is done (`JobState`); how the repair ended is the loop's outcome,
`repomend.trajectory.Status`, also for a job that never got to run. The database and the API
keep one status per repair, `RepairStatus`: the states of a job not yet done, then the
outcomes, taken from those two enums so that the stored strings cannot drift from them.
"""

from __future__ import annotations

from enum import StrEnum

from repomend.trajectory import Status


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    """Finished: `RepairJob.outcome` says how."""


LIVE = (JobState.QUEUED, JobState.RUNNING)
"""The states of a job not yet done: a repair's status until its outcome is known."""

RepairStatus = StrEnum(
    "RepairStatus", [(member.name, member.value) for member in (*LIVE, *Status)], module=__name__
)
RepairStatus.__doc__ = "A repair's status as stored and served: queued, running, then its outcome."
