"""The server's own state: health for load balancers and editors, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from server import service
from server.api.deps import QueueDep, StateDep
from server.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/v1/health")
def health(queue: QueueDep) -> dict:
    return service.health(queue)


@router.get("/metrics", include_in_schema=False)
def metrics(state: StateDep) -> Response:
    return Response(state.metrics.latest(), media_type=CONTENT_TYPE)
