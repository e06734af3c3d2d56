"""Prometheus metrics; one registry per app so tests and several apps never collide."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from server.jobs import RepairJob

CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.repairs = Counter("repomend_repairs", "Finished repairs by outcome", ["outcome"], registry=r)
        self.turns = Histogram(
            "repomend_repair_turns", "Model turns per repair", buckets=(1, 2, 3, 4, 5, 8), registry=r
        )
        self.queue_depth = Gauge("repomend_queue_depth", "Repairs waiting for the model", registry=r)
        self.generation_seconds = Histogram(
            "repomend_generation_seconds", "Model time per answer", registry=r
        )
        self.test_seconds = Histogram("repomend_test_seconds", "Sandboxed test time per answer", registry=r)
        self.refused = Counter(
            "repomend_repairs_refused", "Repairs refused because the queue was full", registry=r
        )

    def observe_repair(self, job: RepairJob) -> None:
        """Count a finished repair by outcome, with its turns and per-answer times."""
        self.repairs.labels(str(job.outcome)).inc()
        if job.trajectory:
            self.turns.observe(job.trajectory.turns_used)
            for turn in job.trajectory.turns:
                for attempt in turn.attempts:
                    self.generation_seconds.observe(attempt.generation_seconds)
                    self.test_seconds.observe(attempt.test_seconds)

    def latest(self) -> bytes:
        """The registry in Prometheus' text format (served with `CONTENT_TYPE`)."""
        return generate_latest(self.registry)
