"""The FastAPI application factory: it checks the settings, builds the state and assembles the
middlewares and routers (`server.api` for the HTTP API, `server.ui` for the dashboard)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from repomend.backends.base import Backend
from repomend.settings import ServerSettings, Settings
from repomend.warm_runs import WarmTestRunner
from server.api.main import api_router
from server.api.middleware import install_middleware
from server.auth import requires_token
from server.state import AppState, RunnerFactory, build_state
from server.ui.routes import router as ui_router

__all__ = ["AppState", "RunnerFactory", "ServerConfigError", "create_app"]


class ServerConfigError(RuntimeError):
    """The server must not start like this; the message says what to change."""


def create_app(
    settings: Settings, backend: Backend, runner_factory: RunnerFactory = WarmTestRunner
) -> FastAPI:
    """Checks the database and the security settings before anything listens.

    `runner_factory(settings, python)` builds the test runner of a repair: the sandbox by default.
    """
    _check_security(settings.server)
    state = build_state(settings, backend, runner_factory)
    app = FastAPI(title="repomend", version="1", lifespan=_lifespan(state))
    app.state.repomend = state
    install_middleware(app, max_body_bytes=settings.server.max_body_kb * 1024)
    app.include_router(api_router)
    app.include_router(ui_router)
    return app


def _check_security(server: ServerSettings) -> None:
    if requires_token(server.host) and not server.token:
        raise ServerConfigError(
            f"listening on {server.host} needs a token: set REPOMEND_SERVER_TOKEN (and an admin token)"
        )


def _lifespan(state: AppState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Retraining is scheduled while the app serves; on shutdown its workers stop, then the queue."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.scheduler.start()
        yield
        state.scheduler.stop()
        await asyncio.to_thread(state.launcher.close)
        await asyncio.to_thread(state.queue.close)

    return lifespan
