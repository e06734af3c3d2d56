"""The FastAPI application: thin routes over `server.service`, one repair queue, one model."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repomend.backends.base import Backend
from repomend.loop import TestRunner
from repomend.settings import Settings
from repomend.warm_runs import WarmTestRunner
from server import adapters, service
from server.auth import check_token, requires_token
from server.db.engine import default_database_url, make_engine, session_factory
from server.db.migrate import check_up_to_date
from server.db.models import Repository
from server.errors import ApiError, error_body, install_error_handlers
from server.jobs import RepairJob, RepairQueue
from server.metrics import Metrics
from server.retraining.launcher import RetrainLauncher
from server.retraining.routes import add_retraining_routes
from server.retraining.schedule import Scheduler
from server.schemas import (
    ActiveAdapterOut,
    AdapterIn,
    AdapterListOut,
    AdapterOut,
    FeedbackIn,
    FeedbackOut,
    RepairIn,
    RepairOut,
    RepositoryIn,
    RepositoryOut,
)
from server.ui.routes import router as ui_router
from server.views import adapter_list_out, adapter_out, repair_out

log = logging.getLogger("repomend.server")
RunnerFactory = Callable[[Settings, str], TestRunner]
WAIT_POLL_SECONDS = 0.5
RepairId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="Repair id")]
RepositoryName = Annotated[str, PathParam(min_length=1, max_length=200)]
AdapterVersion = Annotated[str, PathParam(pattern=r"^[vV]?[0-9]{1,9}$", description="v1, v2, ...")]
STREAM_KEEPALIVE_SECONDS = 15.0


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    queue: RepairQueue
    metrics: Metrics
    runner_factory: RunnerFactory
    launcher: RetrainLauncher


class ServerConfigError(RuntimeError):
    """The server must not start like this; the message says what to change."""


def create_app(
    settings: Settings, backend: Backend, runner_factory: RunnerFactory = WarmTestRunner
) -> FastAPI:
    """Checks the database and the security settings before anything listens.

    `runner_factory(settings, python)` builds the test runner of a repair: the sandbox by default.
    """
    server = settings.server
    if requires_token(server.host) and not server.token:
        raise ServerConfigError(
            f"listening on {server.host} needs a token: set REPOMEND_SERVER_TOKEN (and an admin token)"
        )
    url = settings.database_url or default_database_url(settings)
    check_up_to_date(url)
    sessions = session_factory(make_engine(url))
    with sessions() as session:
        if interrupted := service.fail_interrupted(session):
            log.warning("marked %d interrupted repairs as failed", interrupted)
    launcher = RetrainLauncher(settings, sessions)
    if failed_jobs := launcher.recover():
        log.warning("marked retraining jobs %s as failed: the server restarted", failed_jobs)
    scheduler = Scheduler(sessions, launcher.launch, every=server.retrain_check_seconds)
    metrics = Metrics()

    def finished(job: RepairJob) -> None:
        service.record_job(sessions, job)
        outcome = job.trajectory.status.value if job.trajectory else job.state.value
        metrics.repairs.labels(outcome).inc()
        if job.trajectory:
            metrics.turns.observe(job.trajectory.turns_used)
            for turn in job.trajectory.turns:
                for attempt in turn.attempts:
                    metrics.generation_seconds.observe(attempt.generation_seconds)
                    metrics.test_seconds.observe(attempt.test_seconds)

    queue = RepairQueue(backend, capacity=server.queue_capacity, workers=server.workers, on_finish=finished)
    metrics.queue_depth.set_function(lambda: queue.depth)
    state = AppState(settings, sessions, queue, metrics, runner_factory, launcher)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        yield
        scheduler.stop()
        await asyncio.to_thread(launcher.close)
        await asyncio.to_thread(queue.close)

    app = FastAPI(title="repomend", version="1", lifespan=lifespan)
    app.state.repomend = state
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=server.max_body_kb * 1024)
    app.add_middleware(AccessLog)
    _routes(app, state)
    app.include_router(ui_router)
    return app


class BodyLimit:
    """Refuses bodies over `limit` bytes with 413; pure ASGI so disconnects still reach the routes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                body = error_body("body_too_large", f"request bodies are limited to {self.limit // 1024} KiB")
                await JSONResponse(body, 413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class AccessLog:
    """One structured log line per request: method, path, status, milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            log.info(
                json.dumps(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                )
            )


def _routes(app: FastAPI, state: AppState) -> None:
    server = state.settings.server

    def session() -> Iterator[Session]:
        with state.sessions() as s:
            yield s

    def user(request: Request) -> None:
        check_token(request, server.token, server.admin_token)

    def admin(request: Request) -> None:
        check_token(request, server.admin_token or server.token, admin=True)

    def live(repair_id: RepairId, s: Session) -> tuple:
        row = service.get_repair(s, repair_id)
        return row, state.queue.get(str(repair_id))

    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok", "model": state.queue.backend.describe(), "queue_depth": state.queue.depth}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/admin/repositories", status_code=201, dependencies=[Depends(admin)])
    def add_repository(body: RepositoryIn, s: Session = Depends(session)) -> RepositoryOut:
        return RepositoryOut.model_validate(service.register_repository(s, body))

    @app.get("/v1/admin/repositories", dependencies=[Depends(admin)])
    def list_repositories(s: Session = Depends(session)) -> list[RepositoryOut]:
        return [RepositoryOut.model_validate(r) for r in s.query(Repository).order_by(Repository.name)]

    @app.get("/v1/admin/repositories/{name}", dependencies=[Depends(admin)])
    def show_repository(name: RepositoryName, s: Session = Depends(session)) -> RepositoryOut:
        return RepositoryOut.model_validate(service.repository_by_name(s, name))

    @app.delete("/v1/admin/repositories/{name}", status_code=204, dependencies=[Depends(admin)])
    def remove_repository(name: RepositoryName, s: Session = Depends(session)) -> Response:
        service.remove_repository(s, name)
        return Response(status_code=204)

    _adapter_routes(app, state, admin, session)
    add_retraining_routes(app, state.launcher, admin, session)

    @app.post("/v1/repairs", status_code=202, dependencies=[Depends(user)])
    async def create_repair(
        body: RepairIn, request: Request, wait: bool = False, s: Session = Depends(session)
    ) -> RepairOut:
        """Queue a repair; with `wait=true` answer when it is done (disconnecting cancels it)."""
        row, job = await asyncio.to_thread(
            service.submit_repair, s, state.queue, state.settings, body, state.runner_factory
        )
        if wait:
            while not await asyncio.to_thread(job.wait, WAIT_POLL_SECONDS):
                if await request.is_disconnected():
                    job.cancel()
                    return repair_out(row, job)
            s.refresh(row)
        return repair_out(row, job)

    @app.get("/v1/repairs/{repair_id}", dependencies=[Depends(user)])
    def show_repair(repair_id: RepairId, s: Session = Depends(session)) -> RepairOut:
        return repair_out(*live(repair_id, s))

    @app.post("/v1/repairs/{repair_id}/cancel", status_code=202, dependencies=[Depends(user)])
    def cancel_repair(repair_id: RepairId, s: Session = Depends(session)) -> RepairOut:
        row, job = live(repair_id, s)
        if job is None or job.finished_ok:
            raise ApiError(409, "repair_not_running", f"repair {repair_id} has already finished")
        job.cancel()
        return repair_out(row, job)

    @app.get("/v1/repairs/{repair_id}/events", dependencies=[Depends(user)])
    def repair_events(
        repair_id: RepairId, request: Request, s: Session = Depends(session)
    ) -> StreamingResponse:
        """Server-sent events, one per progress step, then `done`; disconnecting cancels the repair."""
        row, job = live(repair_id, s)

        async def stream() -> AsyncIterator[str]:
            if job is None:
                yield f"event: done\ndata: {json.dumps({'status': row.status.value})}\n\n"
                return
            sent = 0
            while True:
                fresh = await asyncio.to_thread(
                    lambda start=sent: job.next_events(start, timeout=STREAM_KEEPALIVE_SECONDS)
                )
                for event in fresh:
                    yield f"event: progress\ndata: {json.dumps(event)}\n\n"
                sent += len(fresh)
                if job.finished_ok and sent == len(job.events):
                    break
                if await request.is_disconnected():
                    job.cancel()
                    return
                if not fresh:
                    yield ": keep-alive\n\n"
            with state.sessions() as fresh_session:
                final = repair_out(service.get_repair(fresh_session, repair_id), job)
            yield f"event: done\ndata: {final.model_dump_json()}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/v1/repairs/{repair_id}/feedback", dependencies=[Depends(user)])
    def feedback(repair_id: RepairId, body: FeedbackIn, s: Session = Depends(session)) -> FeedbackOut:
        recorded = service.record_feedback(s, repair_id, body)
        return FeedbackOut(
            repair_id=str(repair_id),
            verdict=recorded.verdict.value,
            reason=recorded.reason,
            recorded_at=recorded.updated_at,
        )


def _adapter_routes(app: FastAPI, state: AppState, admin: Callable, session: Callable) -> None:
    """The adapter registry of each repository (logic in `server.adapters`)."""
    base = "/v1/admin/repositories/{name}/adapters"
    guard = [Depends(admin)]

    def switched(s: Session, name: str, previous: str | None) -> ActiveAdapterOut:
        active = adapters.active_adapter(s, name)
        return ActiveAdapterOut(repository=name, active=active.label if active else None, previous=previous)

    def current_label(s: Session, name: str) -> str | None:
        active = adapters.active_adapter(s, name)
        return active.label if active else None

    @app.get(base, dependencies=guard)
    def list_adapters(
        name: RepositoryName, include_deleted: bool = False, s: Session = Depends(session)
    ) -> AdapterListOut:
        repository = service.repository_by_name(s, name)
        found = adapters.list_adapters(s, repository, include_deleted=include_deleted)
        return adapter_list_out(repository, found, adapters.activation_history(s, repository))

    @app.post(base, status_code=201, dependencies=guard)
    def register_adapter(name: RepositoryName, body: AdapterIn, s: Session = Depends(session)) -> AdapterOut:
        """Copy a finished adapter folder into the registry as the next version."""
        repository = service.repository_by_name(s, name)
        served = adapters.served_model_names(state.settings, state.queue.backend)
        adapter = adapters.register_adapter(
            s, state.settings, repository, body.path, served_models=served, force=body.force
        )
        if body.activate:
            adapters.activate(s, repository, adapter.version)
        return adapter_out(repository, adapter)

    @app.post(f"{base}/rollback", dependencies=guard)
    def rollback_adapter(name: RepositoryName, s: Session = Depends(session)) -> ActiveAdapterOut:
        """Return to the version active before the current one (or to the base model)."""
        previous = current_label(s, name)
        adapters.rollback(s, name)
        return switched(s, name, previous)

    @app.post(f"{base}/deactivate", dependencies=guard)
    def deactivate_adapter(name: RepositoryName, s: Session = Depends(session)) -> ActiveAdapterOut:
        """Serve the base model to this repository's new repairs."""
        previous = current_label(s, name)
        adapters.deactivate(s, name)
        return switched(s, name, previous)

    @app.get(f"{base}/{{version}}", dependencies=guard)
    def show_adapter(
        name: RepositoryName, version: AdapterVersion, s: Session = Depends(session)
    ) -> AdapterOut:
        repository = service.repository_by_name(s, name)
        return adapter_out(repository, adapters.get_adapter(s, repository, version))

    @app.post(f"{base}/{{version}}/activate", dependencies=guard)
    def activate_adapter(
        name: RepositoryName, version: AdapterVersion, s: Session = Depends(session)
    ) -> ActiveAdapterOut:
        """New repairs of the repository use this version from the next request on."""
        previous = current_label(s, name)
        adapters.activate(s, name, version)
        return switched(s, name, previous)

    @app.delete(f"{base}/{{version}}", status_code=204, dependencies=guard)
    def delete_adapter(
        name: RepositoryName, version: AdapterVersion, s: Session = Depends(session)
    ) -> Response:
        """Delete an inactive version's files (409 for the active one)."""
        adapters.delete_adapter(s, name, version, state.queue.backend)
        return Response(status_code=204)
