"""Errors a client sees: a stable `code` and a human `message` (rendered by `server.api.middleware`)."""

from __future__ import annotations


class ApiError(Exception):
    """Raised by plain functions and routes; rendered as {"code", "message"} with `status`."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str, **extra: object) -> dict:
    return {"code": code, "message": message, **extra}
