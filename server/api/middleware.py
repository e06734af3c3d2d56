"""What wraps every route: JSON error handlers, the body-size limit and the access log.

Both middlewares are pure ASGI rather than `BaseHTTPMiddleware`, so a client's disconnect still
reaches the routes (waiting and streaming repairs cancel on it).
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import ApiError, error_body

log = logging.getLogger("repomend.server")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


def install_middleware(app: FastAPI, *, max_body_bytes: int) -> None:
    """The access log goes on last, so it is outermost and records refused bodies too."""
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(AccessLog)


def install_error_handlers(app: FastAPI) -> None:
    """Every error a client sees is `{"code", "message"}` with a stable code; never a trace."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError) -> JSONResponse:
        return JSONResponse(error_body(err.code, err.message), err.status, headers=err.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(err.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(err.detail)), err.status_code, headers=getattr(err, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in err.errors()
        ]
        first = problems[0] if problems else {"field": "", "problem": "invalid"}
        message = f"{first['field']}: {first['problem']}" if first["field"] else first["problem"]
        return JSONResponse(error_body("invalid_request", message, problems=problems), 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "the server failed; see its log"), 500)


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
