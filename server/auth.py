"""Bearer tokens: required for everything once the server listens beyond localhost."""

from __future__ import annotations

import hmac

from fastapi import Request

from server.errors import ApiError

LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}


def requires_token(host: str) -> bool:
    return host not in LOCAL_HOSTS


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def check_token(request: Request, *accepted: str | None, admin: bool = False) -> None:
    """Raise 401 unless the request carries one of the `accepted` tokens (none configured = open)."""
    tokens = [token for token in accepted if token]
    if not tokens:
        return
    given = _bearer(request)
    if given is None or not any(hmac.compare_digest(given.encode(), t.encode()) for t in tokens):
        what = "an admin token" if admin else "a token"
        raise ApiError(
            401,
            "unauthorized",
            f"this route needs {what}: send `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
