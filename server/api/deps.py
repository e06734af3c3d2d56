"""What routes depend on, declared once as types: the server's state, a database session and
the token checks. Routes name a type (`session: SessionDep`) instead of wiring `Depends` each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from repomend.settings import ServerSettings
from server.auth import check_token
from server.jobs import RepairQueue
from server.retraining.launcher import RetrainLauncher
from server.state import AppState

# The accessors are async: reading an attribute needs no worker thread.


async def get_state(request: Request) -> AppState:
    return request.app.state.repomend


StateDep = Annotated[AppState, Depends(get_state)]


async def get_server_settings(state: StateDep) -> ServerSettings:
    return state.settings.server


async def get_queue(state: StateDep) -> RepairQueue:
    return state.queue


async def get_launcher(state: StateDep) -> RetrainLauncher:
    return state.launcher


ServerSettingsDep = Annotated[ServerSettings, Depends(get_server_settings)]
QueueDep = Annotated[RepairQueue, Depends(get_queue)]
LauncherDep = Annotated[RetrainLauncher, Depends(get_launcher)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One session per request, closed once the response is done."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def require_user(request: Request, server: ServerSettingsDep) -> None:
    """Either token may use the repair routes (none configured = open, on localhost only)."""
    check_token(request, server.token, server.admin_token)


def require_admin(request: Request, server: ServerSettingsDep) -> None:
    """The admin token, or the user token where no admin token is set."""
    check_token(request, server.admin_token or server.token, admin=True)
