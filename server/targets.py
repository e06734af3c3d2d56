"""Turn an HTTP repair request into a target inside a registered repository, or a clear ApiError."""

from __future__ import annotations

from pathlib import Path

from repomend.source import Method, SourceError, find_method, method_at, parse_methods
from repomend.targets import Target
from server.errors import ApiError


def inside(repo: Path, relative: str) -> Path:
    """The file `relative` resolved inside `repo`; refuses anything that escapes it (.., links, absolute)."""
    root = repo.resolve()
    candidate = (root / relative).resolve()
    if Path(relative).is_absolute() or not candidate.is_relative_to(root) or candidate == root:
        raise ApiError(400, "path_outside_repository", f"`{relative}` is not a file inside the repository")
    return candidate


def resolve_http_target(
    repo: Path,
    path: str,
    *,
    content: str | None = None,
    qualname: str | None = None,
    line: int | None = None,
    column: int | None = None,
) -> Target:
    file = inside(repo, path)
    if content is None:
        if not file.is_file():
            raise ApiError(404, "file_not_found", f"no file `{path}` in the repository")
        try:
            content = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ApiError(422, "file_not_utf8", f"`{path}` is not UTF-8 text") from err
    method = _method(content, qualname, line, column, path)
    return Target(repo.resolve(), file.relative_to(repo.resolve()).as_posix(), content, method)


def _method(content: str, qualname: str | None, line: int | None, column: int | None, path: str) -> Method:
    if (qualname is None) == (line is None):
        raise ApiError(422, "invalid_target", "give the target either as `Class.method` or as a line")
    try:
        parse_methods(content)
    except SourceError as err:
        raise ApiError(422, "source_does_not_parse", f"{path}: {err}") from err
    if qualname is not None:
        try:
            return find_method(content, qualname)
        except SourceError as err:
            raise ApiError(422, "method_not_found", f"{path}: {err}") from err
    assert line is not None
    found = method_at(content, line, column or 0)
    if found is None:
        raise ApiError(422, "method_not_found", f"{path}: no function or method at line {line}")
    return found
