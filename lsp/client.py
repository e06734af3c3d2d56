"""The repomend server's HTTP API as the language server uses it (httpx, async).

Every failure becomes a `ServerProblem` with one line an editor can show: the server is not
there, it refused the request (its own `{"code", "message"}` error), or it answered nonsense.
Timeouts are short for requests and bounded for the event stream (the server sends a
keep-alive every 15 s), so nothing waits forever on a server that went away.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
STREAM_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
"""Between two events of the stream: four keep-alive periods of the server."""


class ServerProblem(Exception):
    """The server could not do what was asked; `str()` is one line for the user."""

    def __init__(self, message: str, code: str = "server_error", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class ServerUnreachable(ServerProblem):
    """Nothing answered at the configured address."""


@dataclass(frozen=True)
class Event:
    """One server-sent event: `progress` (a step of the repair) or `done` (the final repair)."""

    name: str
    data: dict[str, Any]


def _data(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def parse_events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """Server-sent events from a stream of lines (comments and unnamed fields skipped)."""
    name, data = "message", []
    async for line in lines:
        if not line:
            if data:
                yield Event(name, _data("\n".join(data)))
            name, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    if data:
        yield Event(name, _data("\n".join(data)))


class RepomendClient:
    """One HTTP connection pool to one server; close it when the settings change."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        admin_token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token, self._admin_token = token, admin_token
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=REQUEST_TIMEOUT, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RepomendClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _headers(self, admin: bool = False) -> dict[str, str]:
        token = (self._admin_token or self._token) if admin else self._token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _unreachable(self, err: Exception) -> ServerUnreachable:
        return ServerUnreachable(
            f"cannot reach the repomend server at {self.base_url} ({type(err).__name__}); "
            "start it with `repomend serve` or set repomend.serverUrl",
            code="unreachable",
        )

    def _refused(self, response: httpx.Response) -> ServerProblem:
        body = _data(response.text)
        message = body.get("message") or response.reason_phrase or "error"
        if response.status_code == 401:
            message += " (set repomend.token, or repomend.adminToken for the repository lookup)"
        return ServerProblem(
            f"the server refused ({response.status_code}): {message}",
            code=str(body.get("code") or "http_error"),
            status=response.status_code,
        )

    async def _request(self, method: str, url: str, *, admin: bool = False, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, url, headers=self._headers(admin), **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            raise self._unreachable(err) from err
        except httpx.TimeoutException as err:
            raise ServerProblem(f"the server at {self.base_url} did not answer in time", "timeout") from err
        except httpx.HTTPError as err:
            raise ServerProblem(f"talking to the server at {self.base_url} failed: {err}", "http") from err
        if response.status_code >= 400:
            raise self._refused(response)
        try:
            return response.json()
        except ValueError as err:
            raise ServerProblem(f"the server at {self.base_url} answered with something not JSON") from err

    async def submit_repair(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/repairs: the queued repair (its `id`)."""
        return await self._request("POST", "/v1/repairs", json=body)

    async def repair(self, repair_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/v1/repairs/{repair_id}")

    async def cancel(self, repair_id: str) -> None:
        """Ask the server to stop the repair; one that already finished is no error."""
        try:
            await self._request("POST", f"/v1/repairs/{repair_id}/cancel")
        except ServerProblem as err:
            if err.status != 409:
                raise

    async def feedback(self, repair_id: str, verdict: str, final_text: str | None, reason: str | None = None):
        body = {"verdict": verdict, "final_text": final_text, "reason": reason}
        return await self._request("POST", f"/v1/repairs/{repair_id}/feedback", json=body)

    async def repositories(self) -> list[dict[str, Any]]:
        """The registered repositories (admin route)."""
        found = await self._request("GET", "/v1/admin/repositories", admin=True)
        return found if isinstance(found, list) else []

    async def register_repository(self, name: str, path: str) -> dict[str, Any]:
        """POST /v1/admin/repositories (admin route): the server picks the interpreter."""
        body = {"name": name, "path": path}
        return await self._request("POST", "/v1/admin/repositories", admin=True, json=body)

    async def events(self, repair_id: str) -> AsyncIterator[Event]:
        """The repair's progress events, then its `done` event; closing early cancels the repair."""
        url = f"/v1/repairs/{repair_id}/events"
        try:
            async with self._http.stream(
                "GET", url, headers=self._headers(), timeout=STREAM_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._refused(response)
                async for event in parse_events(response.aiter_lines()):
                    yield event
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            raise self._unreachable(err) from err
        except httpx.TimeoutException as err:
            raise ServerProblem(f"the server at {self.base_url} stopped sending progress", "timeout") from err
        except httpx.HTTPError as err:
            raise ServerProblem(f"the progress stream from {self.base_url} broke: {err}", "http") from err
