"""Which registered repository a file belongs to, and its path inside it.

The server knows repositories by name. By default the name is that of the workspace folder
holding the file (what `repomend` registers by default) and the path is relative to that
folder; the `repository` setting overrides the name. With an admin token the registered
repositories are listed and the one whose path holds the file wins (useful when the workspace
folder is not the repository root); that only works when the server sees the same paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePath

from lsp.client import RepomendClient
from lsp.config import LspConfig
from repomend.targets import repository_name


class NoRepository(Exception):
    """The file cannot be placed in a repository; `str()` says what to set."""


class NotRegistered(NoRepository):
    """No registered repository holds the file; `folder` (the workspace folder holding it, if
    any) is what could be registered, as `name`."""

    def __init__(self, file: Path, folder: Path | None, name: str | None) -> None:
        where = folder or file.parent
        super().__init__(
            f"{where} is not a repository registered with the repomend server"
            + (f" (as `{name}`)" if name else "")
        )
        self.file, self.folder, self.name = file, folder, name


def workspace_folder(file: Path, folders: Iterable[Path]) -> Path | None:
    """The innermost workspace folder holding `file`."""
    found = _holder(file, ((folder.name, folder) for folder in folders))
    return None if found is None else Path(found[1])


def _holder(path: PurePath, roots: Iterable[tuple[str, PurePath]]) -> tuple[str, PurePath] | None:
    """The (name, root) with the longest root containing `path`."""
    holding = [(name, root) for name, root in roots if path.is_relative_to(root) and path != root]
    return max(holding, key=lambda found: len(found[1].parts), default=None)


def by_workspace(config: LspConfig, file: Path, folders: Iterable[Path]) -> tuple[str, str]:
    found = _holder(file, ((folder.name, folder) for folder in folders))
    if found is None:
        raise NoRepository(
            f"{file} is outside the workspace folders: open its repository as a folder"
            " (or set repomend.adminToken so the server can place it)"
        )
    _, root = found
    return config.repository or repository_name(Path(root)), file.relative_to(root).as_posix()


def by_registration(config: LspConfig, file: Path, registered: list[dict]) -> tuple[str, str] | None:
    """The registered repository holding `file` (the configured one if named); None if none does."""
    roots = [
        (str(entry["name"]), PurePath(str(entry["path"])))
        for entry in registered
        if entry.get("name") and entry.get("path") and config.repository in (None, entry["name"])
    ]
    found = _holder(file, roots)
    return None if found is None else (found[0], file.relative_to(found[1]).as_posix())


async def locate_file(
    config: LspConfig, client: RepomendClient, file: Path, folders: Iterable[Path]
) -> tuple[str, str]:
    """(repository name, path relative to it) for `file`; raises NoRepository (NotRegistered when
    the server's list shows that no repository holds it) or ServerProblem."""
    file = file.resolve()
    folders = [folder.resolve() for folder in folders]
    if not config.admin_token:
        return by_workspace(config, file, folders)
    registered = await client.repositories()
    found = by_registration(config, file, registered)
    if found is not None:
        return found
    folder = workspace_folder(file, folders)
    name = config.repository or (repository_name(folder) if folder else None)
    if folder is not None and any(entry.get("name") == name for entry in registered):
        return by_workspace(config, file, folders)  # known by name: the server sees other paths
    raise NotRegistered(file, folder, name)
