"""The dashboard's routes under `/ui`: thin, each one reads through `server.ui.queries` (or acts
through `server.adapters` / the retraining launcher) and renders a Jinja2 template.

Pages answer HTML also when something is wrong: a missing token gets the login form (401), the user
token asking to act gets 403, an unknown repository or repair a 404 page. Acting is a plain HTML
form POST answered with a redirect, so every page works without scripts; `static/live.js` only
refreshes the parts that change (a running job, the queue).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from repomend.backends.base import BackendError
from server import adapters
from server.db.models import RepairStatus, TrainingRun, Verdict
from server.errors import ApiError
from server.ui import queries
from server.ui.access import (
    COOKIE,
    COOKIE_MAX_AGE,
    NeedsAdmin,
    NeedsLogin,
    Role,
    form_key,
    hide_tokens_in,
    is_open,
    role_for_token,
    role_of,
    safe_next,
    same_origin,
    session_value,
)

if TYPE_CHECKING:
    from server.state import AppState

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
NOTICE_COOKIE = "repomend_ui_notice"
RepositoryName = Annotated[str, PathParam(min_length=1, max_length=200)]
AdapterVersion = Annotated[str, PathParam(pattern=r"^[vV]?[0-9]{1,9}$")]
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
STATUSES = [s.value for s in RepairStatus]
VERDICTS = [v.value for v in Verdict] + ["none"]


class TokenAccepted(Exception):
    """`?token=` was valid: set the cookie and show the same address without the token."""

    def __init__(self, target: str, token: str) -> None:
        super().__init__(target)
        self.target, self.token = target, token


def _percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value.replace("T", " ")[:16]
    return value.strftime("%Y-%m-%d %H:%M")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = _percent
    env.filters["when"] = _when
    env.filters["seconds"] = lambda v: "–" if v is None else f"{v:.1f} s"
    return env


templates = Jinja2Templates(env=_environment())


class UiRoute(APIRoute):
    """Turns the dashboard's exceptions into pages instead of the API's JSON errors."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except TokenAccepted as accepted:
                return _logged_in(request, accepted.target, accepted.token)
            except NeedsLogin as err:
                return login_page(request, err.message, status=401)
            except NeedsAdmin:
                return error_page(
                    request, 403, "acting needs the admin token; this session has the user token"
                )
            except ApiError as err:
                return error_page(request, err.status, err.message)
            except RequestValidationError:
                return error_page(request, 404, "no such page")

        return guarded


router = APIRouter(prefix="/ui", include_in_schema=False, route_class=UiRoute)
hide_tokens_in("uvicorn.access")  # `?token=` logs in; the server's access log must not keep it


# -- plumbing --------------------------------------------------------------------------------------


def app_state(request: Request) -> AppState:
    return request.app.state.repomend


def database(request: Request) -> Iterator[Session]:
    with app_state(request).sessions() as session:
        yield session


def viewer(request: Request) -> Role:
    """Anyone with a token may look; `?token=` logs in on the way."""
    server = app_state(request).settings.server
    given = request.query_params.get("token")
    if given is not None and not is_open(server):
        if role_for_token(server, given) is None:
            raise NeedsLogin("that token is not valid")
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        raise TokenAccepted(request.url.path + (f"?{rest}" if rest else ""), given)
    role = role_of(request, server)
    if role is None:
        raise NeedsLogin()
    return role


Viewer = Annotated[Role, Depends(viewer)]
Db = Annotated[Session, Depends(database)]


def render(
    request: Request, template: str, role: Role | None, status: int = 200, **context: Any
) -> HTMLResponse:
    notice = request.cookies.get(NOTICE_COOKIE)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "role": role,
            "is_admin": role is Role.ADMIN,
            "form_key": form_key(request),
            "notice": unquote(notice) if notice else None,
            "open_server": is_open(app_state(request).settings.server),
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        status_code=status,
    )
    if notice:
        response.delete_cookie(NOTICE_COOKIE, path="/ui")
    return response


def login_page(request: Request, problem: str | None = None, status: int = 200) -> HTMLResponse:
    """The login form; after logging in the browser returns to the page it asked for."""
    if request.method == "GET" and request.url.path != "/ui/login":
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
    else:
        target = request.query_params.get("next") or "/ui"
    return render(request, "login.html", None, status=status, problem=problem, next=safe_next(target))


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    role = role_of(request, app_state(request).settings.server)
    return render(request, "error.html", role, status=status, status_code=status, message=message)


def _cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        session_value(token),
        max_age=COOKIE_MAX_AGE,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _logged_in(request: Request, target: str, token: str) -> Response:
    response = RedirectResponse(safe_next(target), status_code=303)
    _cookie(response, request, token)
    return response


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


async def acting(request: Request, role: Role) -> dict[str, str]:
    """The fields of an acting form, once it is known to come from an admin's dashboard page."""
    if role is not Role.ADMIN:
        raise NeedsAdmin
    fields = await _form(request)
    if not same_origin(request) or not hmac.compare_digest(fields.get("key", ""), form_key(request)):
        raise ApiError(403, "form_expired", "this form is stale or came from another site; reload the page")
    return fields


def _back(fields: dict[str, str], default: str, notice: str) -> RedirectResponse:
    response = RedirectResponse(safe_next(fields.get("next") or default), status_code=303)
    response.set_cookie(
        NOTICE_COOKIE, quote(notice[:500]), max_age=60, path="/ui", httponly=True, samesite="strict"
    )
    return response


# -- logging in ------------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request) -> Response:
    if is_open(app_state(request).settings.server) or role_of(request, app_state(request).settings.server):
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await _form(request)
    token = fields.get("token", "").strip()
    target = safe_next(fields.get("next"))
    if role_for_token(app_state(request).settings.server, token) is None:
        return render(request, "login.html", None, status=401, problem="that token is not valid", next=target)
    return _logged_in(request, target, token)


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The dashboard's own stylesheet and script (no page data, so no token)."""
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "max-age=3600"})


# -- pages -----------------------------------------------------------------------------------------


@router.get("")
def overview(request: Request, role: Viewer, s: Db) -> HTMLResponse:
    found = queries.rates(s)
    return render(
        request,
        "overview.html",
        role,
        repositories=queries.repositories_overview(s),
        fix_chart=found.chart("fix_rate"),
        acceptance_chart=found.chart("acceptance_rate"),
        rates=found,
        engine=_engine(request, s),
    )


@router.get("/repositories/{name}")
def repository(request: Request, name: RepositoryName, role: Viewer, s: Db) -> HTMLResponse:
    view = queries.repository_view(s, name)
    return render(
        request,
        "repository.html",
        role,
        view=view,
        fix_chart=view.rates.chart("fix_rate"),
        acceptance_chart=view.rates.chart("acceptance_rate"),
    )


@router.get("/repositories/{name}/adapters/{version}")
def adapter(
    request: Request, name: RepositoryName, version: AdapterVersion, role: Viewer, s: Db
) -> HTMLResponse:
    view = queries.adapter_view(s, app_state(request).settings, name, version)
    return render(request, "adapter.html", role, view=view)


@router.get("/repositories/{name}/adapters/{version}/pass_at.png")
def adapter_plot(
    request: Request, name: RepositoryName, version: AdapterVersion, role: Viewer, s: Db
) -> Response:
    view = queries.adapter_view(s, app_state(request).settings, name, version)
    if view.plot is None:
        raise ApiError(404, "plot_not_found", f"{view.adapter.label} of `{name}` has no Pass@k plot")
    return FileResponse(view.plot, media_type="image/png")


def _choice(value: str | None, allowed: list[str], what: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise ApiError(422, "invalid_filter", f"{what} must be one of {', '.join(allowed)}")
    return value


def _page(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 10 else 1


@router.get("/repairs")
def repairs(
    request: Request,
    role: Viewer,
    s: Db,
    repository: str | None = None,
    status: str | None = None,
    verdict: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    filters = {
        "repository": (repository or None) and repository[:200],
        "status": _choice(status, STATUSES, "status"),
        "verdict": _choice(verdict, VERDICTS, "verdict"),
    }
    found = queries.repairs_page(s, **filters, page=_page(page))
    names = queries.repository_names(s)
    query = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "repairs.html",
        role,
        page=found,
        filters=filters,
        names=names,
        statuses=STATUSES,
        verdicts=VERDICTS,
        page_link=lambda n: "/ui/repairs?" + urlencode({**query, "page": n}),
    )


@router.get("/repairs/{repair_id}")
def repair(request: Request, repair_id: RowId, role: Viewer, s: Db) -> HTMLResponse:
    return render(request, "repair.html", role, view=queries.repair_view(s, repair_id))


@router.get("/jobs")
def jobs(
    request: Request, role: Viewer, s: Db, repository: str | None = None, page: str | None = None
) -> HTMLResponse:
    name = (repository or None) and repository[:200]
    found = queries.jobs_page(s, repository=name, page=_page(page))
    query = {"repository": name} if name else {}
    return render(
        request,
        "jobs.html",
        role,
        page=found,
        repository=name,
        page_link=lambda n: "/ui/jobs?" + urlencode({**query, "page": n}),
    )


@router.get("/jobs/{run_id}")
def job(request: Request, run_id: RowId, role: Viewer, s: Db) -> HTMLResponse:
    return render(request, "job.html", role, view=queries.job_view(s, run_id))


@router.get("/jobs/{run_id}/live")
def job_live(run_id: RowId, role: Viewer, s: Db) -> JSONResponse:
    return JSONResponse(queries.job_live(queries.job_view(s, run_id)), headers={"Cache-Control": "no-store"})


def _engine(request: Request, s: Session) -> dict[str, Any]:
    state = app_state(request)
    backend = state.queue.backend
    try:
        model = backend.describe()
    except BackendError as err:
        model = f"unavailable: {err}"
    settings = state.settings
    return {
        "model": model,
        "backend": settings.engine,
        "mode": str(settings.mode),
        "max_turns": settings.max_turns,
        "samples_per_turn": settings.samples_per_turn,
        "loaded_adapters": backend.loaded_adapters(),
        "queue_depth": state.queue.depth,
        "running": state.queue.running,
        "capacity": settings.server.queue_capacity,
        "workers": settings.server.workers,
        "live_jobs": queries.live_job_count(s),
    }


@router.get("/engine")
def engine(request: Request, role: Viewer, s: Db) -> HTMLResponse:
    return render(request, "engine.html", role, engine=_engine(request, s), throughput=queries.throughput(s))


@router.get("/engine/live")
def engine_live(request: Request, role: Viewer, s: Db) -> JSONResponse:
    found = _engine(request, s)
    found["loaded_adapters"] = ", ".join(found["loaded_adapters"]) or "none"
    return JSONResponse({**found, "finished": False}, headers={"Cache-Control": "no-store"})


# -- actions (admin) -------------------------------------------------------------------------------


@router.post("/repositories/{name}/adapters/rollback")
async def rollback(request: Request, name: RepositoryName, role: Viewer) -> Response:
    fields = await acting(request, role)
    return _switch(request, fields, name, lambda s: adapters.rollback(s, name), "rolled back")


@router.post("/repositories/{name}/adapters/deactivate")
async def deactivate(request: Request, name: RepositoryName, role: Viewer) -> Response:
    fields = await acting(request, role)
    return _switch(
        request, fields, name, lambda s: adapters.deactivate(s, name), "switched to the base model"
    )


@router.post("/repositories/{name}/adapters/{version}/activate")
async def activate(request: Request, name: RepositoryName, version: AdapterVersion, role: Viewer) -> Response:
    fields = await acting(request, role)
    return _switch(
        request, fields, name, lambda s: adapters.activate(s, name, version), f"activated {version}"
    )


def _switch(request: Request, fields: dict[str, str], name: str, change: Callable, done: str) -> Response:
    default = f"/ui/repositories/{quote(name)}"
    with app_state(request).sessions() as s:
        try:
            change(s)
        except ApiError as err:
            return _back(fields, default, f"not changed: {err.message}")
        active = adapters.active_adapter(s, name)
    return _back(fields, default, f"{done}: `{name}` now uses {active.label if active else 'the base model'}")


@router.post("/jobs/{run_id}/cancel")
async def cancel_job(request: Request, run_id: RowId, role: Viewer) -> Response:
    fields = await acting(request, role)
    state = app_state(request)
    with state.sessions() as s:
        run = s.get(TrainingRun, run_id)
        if run is None:
            raise ApiError(404, "training_run_not_found", f"no retraining job {run_id}")
        state.launcher.cancel(s, run)
        s.refresh(run)
        outcome = run.state.value
    return _back(fields, f"/ui/jobs/{run_id}", f"asked job {run_id} to stop; it is {outcome}")
