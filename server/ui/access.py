"""Who is looking at the dashboard: the API's bearer tokens, carried by a cookie in a browser.

A browser cannot send an `Authorization` header when it follows a link, so the token is given once
(the login form, or `?token=` on any page) and kept in an HttpOnly cookie scoped to `/ui`. The cookie
holds a keyed hash of the token, never the token itself. The admin token (or the one token, when
there is no separate admin token) may act; the user token may only look. A server without tokens
(localhost only) is open, as its API is. Forms that act carry a value derived from the session and a
per-process secret, so another site cannot make a logged-in browser act.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from enum import StrEnum

from fastapi import Request

from repomend.settings import ServerSettings

COOKIE = "repomend_ui"
COOKIE_MAX_AGE = 30 * 24 * 3600
_SESSION_KEY = b"repomend-ui-session"
_PROCESS_SECRET = secrets.token_bytes(32)


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class NeedsLogin(Exception):
    """No valid token came with the request; `message` says why when one was given."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message


class NeedsAdmin(Exception):
    """The request wants to act but carries the user token."""


def _tokens(server: ServerSettings) -> list[tuple[Role, str]]:
    """Each configured token with what it may do; the admin routes accept the user token when no
    admin token is set, and so does the dashboard."""
    found: list[tuple[Role, str]] = []
    if server.admin_token:
        found.append((Role.ADMIN, server.admin_token))
        if server.token:
            found.append((Role.USER, server.token))
    elif server.token:
        found.append((Role.ADMIN, server.token))
    return found


def is_open(server: ServerSettings) -> bool:
    return not _tokens(server)


def session_value(token: str) -> str:
    return hmac.new(token.encode(), _SESSION_KEY, hashlib.sha256).hexdigest()


def role_for_token(server: ServerSettings, given: str | None) -> Role | None:
    if is_open(server):
        return Role.ADMIN
    if not given:
        return None
    for role, token in _tokens(server):
        if hmac.compare_digest(given.encode(), token.encode()):
            return role
    return None


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def role_of(request: Request, server: ServerSettings) -> Role | None:
    """The role the request's bearer header or session cookie grants; None = not logged in."""
    if is_open(server):
        return Role.ADMIN
    if (bearer := _bearer(request)) is not None:
        return role_for_token(server, bearer)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    for role, token in _tokens(server):
        if hmac.compare_digest(cookie.encode(), session_value(token).encode()):
            return role
    return None


def form_key(request: Request) -> str:
    """The value every acting form must send back (tied to the session and this process)."""
    basis = request.cookies.get(COOKIE) or _bearer(request) or "open"
    return hmac.new(_PROCESS_SECRET, basis.encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """A browser names the page a form came from; one from another site is refused."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


_TOKEN_PARAM = re.compile(r"([?&]token=)[^&\s]*")


class HideTokens(logging.Filter):
    """Access logs print each request's address: a token given as `?token=` is blanked out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_PARAM.sub(r"\1...", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = _TOKEN_PARAM.sub(r"\1...", record.msg)
        return True


def hide_tokens_in(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, HideTokens) for f in logger.filters):
        logger.addFilter(HideTokens())


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only somewhere in the dashboard."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"
