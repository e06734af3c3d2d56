"""Following a repair while it runs: waiting for its result, or streaming its progress as
server-sent events. A client that goes away cancels the repair, so nobody waits on work no one
will read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy.orm import Session, sessionmaker

from repomend.settings import Settings
from server import service
from server.db.models import Repair
from server.jobs import RepairJob, RepairQueue
from server.schemas import RepairIn, RepairOut
from server.state import RunnerFactory
from server.views import repair_out

WAIT_POLL_SECONDS = 0.5
STREAM_KEEPALIVE_SECONDS = 15.0
Disconnected = Callable[[], Awaitable[bool]]


async def submit(
    session: Session,
    queue: RepairQueue,
    settings: Settings,
    body: RepairIn,
    runner_factory: RunnerFactory,
    *,
    wait: bool,
    disconnected: Disconnected,
) -> RepairOut:
    """Queue a repair; with `wait`, answer once it is done (or cancelled by `disconnected`)."""
    row, job = await asyncio.to_thread(service.submit_repair, session, queue, settings, body, runner_factory)
    if wait:
        while not await asyncio.to_thread(job.wait, WAIT_POLL_SECONDS):
            if await disconnected():
                job.cancel()
                return repair_out(row, job)
        session.refresh(row)
    return repair_out(row, job)


async def events(
    repair_id: int,
    row: Repair,
    job: RepairJob | None,
    sessions: sessionmaker[Session],
    disconnected: Disconnected,
) -> AsyncIterator[str]:
    """One `progress` event per step, then `done` with the result read back from the database."""
    if job is None:
        yield f"event: done\ndata: {json.dumps({'status': row.status.value})}\n\n"
        return
    sent = 0
    while True:
        fresh = await asyncio.to_thread(
            lambda start=sent: job.next_events(start, timeout=STREAM_KEEPALIVE_SECONDS)
        )
        for event in fresh:
            yield f"event: progress\ndata: {json.dumps(event.model_dump())}\n\n"
        sent += len(fresh)
        if job.finished_ok and sent == len(job.events):
            break
        if await disconnected():
            job.cancel()
            return
        if not fresh:
            yield ": keep-alive\n\n"
    with sessions() as fresh_session:
        final = repair_out(service.get_repair(fresh_session, repair_id), job)
    yield f"event: done\ndata: {final.model_dump_json()}\n\n"
