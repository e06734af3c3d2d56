"""Prometheus metrics; one registry per app so tests and several apps never collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
