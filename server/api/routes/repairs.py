"""Repairs: queue one, follow it (wait, poll or stream), cancel it, give feedback on its fix."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from repomend.progress_events import ProgressEvent
from server import live, service
from server.api.deps import QueueDep, SessionDep, StateDep, require_user
from server.api.params import RepairId
from server.schemas import FeedbackIn, FeedbackOut, RepairIn, RepairOut, event_stream_openapi
from server.views import feedback_out, repair_out

router = APIRouter(prefix="/v1/repairs", dependencies=[Depends(require_user)])


@router.post("", status_code=202)
async def create_repair(
    body: RepairIn, request: Request, session: SessionDep, state: StateDep, wait: bool = False
) -> RepairOut:
    """Queue a repair; with `wait=true` answer when it is done (disconnecting cancels it)."""
    return await live.submit(
        session,
        state.queue,
        state.settings,
        body,
        state.runner_factory,
        wait=wait,
        disconnected=request.is_disconnected,
    )


@router.get("/{repair_id}")
def show_repair(repair_id: RepairId, session: SessionDep, queue: QueueDep) -> RepairOut:
    return repair_out(*service.live_repair(session, queue, repair_id))


@router.post("/{repair_id}/cancel", status_code=202)
def cancel_repair(repair_id: RepairId, session: SessionDep, queue: QueueDep) -> RepairOut:
    return repair_out(*service.cancel_repair(session, queue, repair_id))


@router.get(
    "/{repair_id}/events",
    response_class=StreamingResponse,
    response_model=ProgressEvent,
    openapi_extra=event_stream_openapi(),
)
def repair_events(
    repair_id: RepairId, request: Request, session: SessionDep, state: StateDep
) -> StreamingResponse:
    """Server-sent events, one per progress step, then `done`; disconnecting cancels the repair."""
    row, job = service.live_repair(session, state.queue, repair_id)
    stream = live.events(repair_id, row, job, state.sessions, request.is_disconnected)
    return StreamingResponse(stream, media_type="text/event-stream")


@router.post("/{repair_id}/feedback")
def feedback(repair_id: RepairId, body: FeedbackIn, session: SessionDep) -> FeedbackOut:
    return feedback_out(repair_id, service.record_feedback(session, repair_id, body))
