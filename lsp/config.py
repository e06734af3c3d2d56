"""The `repomend` settings section of the editor, as the language server reads it.

Editors send the section twice: as `initializationOptions` (flat, or nested under "repomend")
and as the answer to `workspace/configuration` for section "repomend", which wins and is asked
again on `workspace/didChangeConfiguration`. Empty strings and nulls mean "the default", so an
editor can always send every key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from repomend.contract.conversation import Mode

SECTION = "repomend"
DEFAULT_SERVER_URL = "http://127.0.0.1:8765"
MAX_TURNS_LIMIT = 10


@dataclass(frozen=True)
class LspConfig:
    server_url: str = DEFAULT_SERVER_URL
    """Where `repomend serve` listens."""
    token: str | None = None
    """Bearer token for the repair routes (needed when the server has one)."""
    admin_token: str | None = None
    """With it, the repository is found by path among the registered ones (admin list)."""
    repository: str | None = None
    """Registered repository name; default: the name of the workspace folder holding the file."""
    mode: Mode = Mode.NO_THINK
    """Mode of "Fix this method"; "Fix this method (think)" always thinks."""
    max_turns: int | None = None
    """Model turns per repair; None (or 0 in the editor's settings) = the server's default."""


_KEYS = {
    "serverUrl": "server_url",
    "token": "token",
    "adminToken": "admin_token",
    "repository": "repository",
    "mode": "mode",
    "maxTurns": "max_turns",
}


def section_of(options: Any) -> dict[str, Any]:
    """The settings in `options`, whether flat or nested under "repomend"."""
    if not isinstance(options, dict):
        return {}
    nested = options.get(SECTION)
    return nested if isinstance(nested, dict) else options


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def merge(config: LspConfig, options: Any) -> tuple[LspConfig, list[str]]:
    """`config` updated by the keys present in `options`, and a one-line problem per bad value.

    A bad value is skipped (the previous one stays), never fatal: the editor shows the problem.
    """
    updates: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in section_of(options).items():
        field = _KEYS.get(key)
        if field is None or value is None:
            continue
        if field == "mode":
            try:
                updates["mode"] = Mode(value)
            except ValueError:
                if _text(value) is not None:
                    problems.append(f"repomend.mode must be one of {', '.join(sorted(Mode))}, not {value!r}")
        elif field == "max_turns":
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TURNS_LIMIT:
                updates["max_turns"] = value or None
            else:
                problems.append(
                    f"repomend.maxTurns must be a whole number from 1 to {MAX_TURNS_LIMIT}"
                    " (0: the server's default)"
                )
        elif field == "server_url":
            url = _text(value)
            if url is None:
                updates["server_url"] = DEFAULT_SERVER_URL
            elif url.startswith(("http://", "https://")):
                updates["server_url"] = url.rstrip("/")
            else:
                problems.append(f"repomend.serverUrl must start with http:// or https://, not {url!r}")
        else:
            updates[field] = _text(value)
    return replace(config, **updates), problems
