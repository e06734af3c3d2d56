"""The per-repository adapter registry, as plain functions over a database session.

Each repository has versions v1, v2, ... (numbers never reused), at most one of them active; with
none active the base model serves. Every change of the active version is kept in
`adapter_activations`, so `rollback` can return to the version active before the current one,
and again to the one before that. The repair path reads the active version for every new repair,
so a change takes effect for the next request without restarting the server. Errors are
`ApiError`s: the routes return them as they are, the CLI prints their message.

A retraining job registers what it trained and activates it when the gate says so:

    adapter = register_adapter(session, settings, "stats", folder, status=AdapterStatus.PROMOTED)
    activate(session, "stats", adapter.version)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from repomend.backends.base import Backend, BackendError
from repomend.backends.catalogue import catalogue_model
from repomend.settings import Settings
from server import adapter_store
from server.adapter_store import AdapterFolderError
from server.db.models import ActivationAction, Adapter, AdapterActivation, AdapterStatus, Repository
from server.errors import ApiError

log = logging.getLogger("repomend.server")
MAX_VERSION = 999_999_999
_VERSION_RETRIES = 3


# -- names -----------------------------------------------------------------------------------------


def adapter_name(repository: Repository, adapter: Adapter) -> str:
    """What the backends load it by: `<repository>/v<N>`, a folder under the adapters dir."""
    return f"{repository.name}/{adapter.label}"


def parse_version(text: str | int) -> int:
    """`v3`, `3` or 3 -> 3; anything else is a 422."""
    raw = str(text).strip()
    digits = raw[1:] if raw[:1] in ("v", "V") else raw
    if not digits.isdigit() or not 1 <= int(digits) <= MAX_VERSION:
        raise ApiError(422, "invalid_version", f"`{raw[:50]}` is not an adapter version (v1, v2, ...)")
    return int(digits)


def repository_dir(settings: Settings, repository: Repository) -> Path:
    return settings.resolved_adapters_dir.expanduser().resolve() / repository.name


def served_model_names(settings: Settings, backend: Backend | None = None) -> set[str]:
    """Names the served base model goes by, for checking an adapter's `base_model`; compared by
    their last path component, case-insensitively (an id, a folder and a cache path all match)."""
    names: set[str] = set()
    if settings.engine == "openai":
        if settings.openai_model:
            names.add(settings.openai_model)
    else:
        names.add(settings.model)
        if (known := catalogue_model(settings.model)) is not None:
            names.add(known.title)
        elif settings.model.endswith(".gguf"):
            names.add(Path(settings.model).stem)  # the file of the model the adapter names
    if backend is not None:
        try:
            names.add(backend.describe())
        except BackendError as err:
            log.warning("cannot ask the backend for its model name: %s", err)
    return {_short(name) for name in names}


def _short(name: str) -> str:
    return (Path(name.rstrip("/")).name or name).lower()


# -- reading -----------------------------------------------------------------------------------------


def _repository(session: Session, repository: Repository | str) -> Repository:
    if isinstance(repository, Repository):
        return repository
    found = session.scalar(select(Repository).where(Repository.name == repository))
    if found is None:
        raise ApiError(404, "repository_not_found", f"no registered repository `{repository}`")
    return found


def list_adapters(
    session: Session, repository: Repository | str, *, include_deleted: bool = False
) -> list[Adapter]:
    repo = _repository(session, repository)
    query = select(Adapter).where(Adapter.repository_id == repo.id)
    if not include_deleted:
        query = query.where(Adapter.deleted_at.is_(None))
    return list(session.scalars(query.order_by(Adapter.version)))


def get_adapter(session: Session, repository: Repository | str, version: str | int) -> Adapter:
    """The version, deleted or not; 404 when it never existed."""
    repo = _repository(session, repository)
    number = parse_version(version)
    adapter = session.scalar(
        select(Adapter).where(Adapter.repository_id == repo.id, Adapter.version == number)
    )
    if adapter is None:
        raise ApiError(404, "adapter_not_found", f"`{repo.name}` has no adapter v{number}")
    return adapter


def _live_adapter(session: Session, repository: Repository, version: str | int) -> Adapter:
    adapter = get_adapter(session, repository, version)
    if adapter.deleted_at is not None:
        raise ApiError(
            404, "adapter_not_found", f"adapter {adapter.label} of `{repository.name}` was deleted"
        )
    return adapter


def active_adapter(session: Session, repository: Repository | str) -> Adapter | None:
    """The version new repairs of the repository use; None = the base model."""
    repo = _repository(session, repository)
    return session.scalar(select(Adapter).where(Adapter.repository_id == repo.id, Adapter.active))


def active_label(session: Session, repository: Repository | str) -> str | None:
    """`v3` for the active version; None = the base model."""
    active = active_adapter(session, repository)
    return active.label if active else None


def activation_history(session: Session, repository: Repository | str) -> list[AdapterActivation]:
    repo = _repository(session, repository)
    return list(
        session.scalars(
            select(AdapterActivation)
            .where(AdapterActivation.repository_id == repo.id)
            .order_by(AdapterActivation.id)
        )
    )


# -- registering -------------------------------------------------------------------------------------


def register_adapter(
    session: Session,
    settings: Settings,
    repository: Repository | str,
    folder: Path | str,
    *,
    served_models: set[str] | None = None,
    force: bool = False,
    status: AdapterStatus = AdapterStatus.REGISTERED,
) -> Adapter:
    """Copy a finished adapter folder into the registry as the repository's next version.

    Checked first: the PEFT files and `repomend_adapter.json` are there, the manifest parses, and
    its `base_model` is the served model (`served_models`, default from `settings`) or a
    catalogue model the engine can start beside it, unless `force`. The new version is not
    activated. Nothing becomes visible unless all of it is there.
    """
    repo = _repository(session, repository)
    try:
        source = adapter_store.read_adapter_folder(Path(folder))
    except AdapterFolderError as err:
        raise ApiError(422, "adapter_invalid", str(err)) from err
    served = served_models if served_models is not None else served_model_names(settings)
    base = source.manifest.base_model
    if not force:
        if not served:
            raise ApiError(
                422,
                "base_model_unknown",
                "cannot tell which model the server runs (set REPOMEND_OPENAI_MODEL); "
                "force to register anyway",
            )
        # A catalogue base the server does not run yet is started on first need (`ByBase`).
        startable = settings.engine != "openai" and catalogue_model(base) is not None
        if _short(base) not in served and not startable:
            raise ApiError(
                422,
                "base_model_mismatch",
                f"the adapter was trained on `{base}` but the server runs {', '.join(sorted(served))}; "
                "force to register anyway",
            )
    root = repository_dir(settings, repo)
    try:
        staged = adapter_store.stage(source, root)
    except AdapterFolderError as err:
        raise ApiError(422, "adapter_invalid", f"the copy does not check out: {err}") from err
    except OSError as err:
        raise ApiError(500, "adapter_copy_failed", f"cannot copy the adapter into {root}: {err}") from err
    try:
        if settings.engine == "llamacpp":
            _write_gguf(staged, settings)
        return _publish(session, repo, source, staged, root, status)
    finally:
        if staged.exists():
            adapter_store.remove(staged)


def add_adapter(
    session: Session,
    settings: Settings,
    repository: Repository | str,
    folder: Path | str,
    backend: Backend,
    *,
    force: bool = False,
    make_active: bool = False,
) -> Adapter:
    """Register a folder as an admin asks: its base model is checked against the names the running
    engine reports too, not only the configured ones; then activate it if `make_active`."""
    served = served_model_names(settings, backend)
    adapter = register_adapter(session, settings, repository, folder, served_models=served, force=force)
    if make_active:
        activate(session, repository, adapter.version)
    return adapter


def _write_gguf(staged: Path, settings: Settings) -> None:
    """llama.cpp serves adapters as GGUF: convert the staged copy, or refuse the registration."""
    from repomend.backends.model_files import adapter_gguf
    from repomend.llamacpp.convert import ConversionError

    try:
        adapter_gguf(staged, settings)
    except (ConversionError, BackendError) as err:
        message = f"cannot convert the adapter for llama.cpp: {err}"
        raise ApiError(422, "adapter_not_convertible", message) from err


def _publish(
    session: Session,
    repo: Repository,
    source: adapter_store.AdapterFolder,
    staged: Path,
    root: Path,
    status: AdapterStatus,
) -> Adapter:
    """Number the staged copy, rename it into place and commit its row; retried if another
    registration took the number first."""
    for attempt in range(_VERSION_RETRIES):
        in_db = session.scalar(select(func.max(Adapter.version)).where(Adapter.repository_id == repo.id)) or 0
        version = max(in_db, adapter_store.highest_version_on_disk(root)) + 1
        target = root / f"v{version}"
        adapter = Adapter(
            repository_id=repo.id,
            version=version,
            path=str(target),
            base_model=source.manifest.base_model,
            metrics=source.manifest.metrics,
            manifest=source.raw_manifest,
            evaluation=source.evaluation,
            status=status,
            active=False,
        )
        session.add(adapter)
        try:
            session.flush()
            adapter_store.publish(staged, target)
        except (IntegrityError, OSError) as err:
            session.rollback()
            taken = isinstance(err, IntegrityError) or target.exists()
            if not taken:
                raise ApiError(500, "adapter_copy_failed", f"cannot publish {target}: {err}") from err
            if attempt == _VERSION_RETRIES - 1:
                raise ApiError(
                    409, "adapter_version_conflict", f"could not number the new adapter of `{repo.name}`"
                ) from err
            continue  # another registration took this number first
        try:
            session.commit()
        except Exception:
            session.rollback()
            adapter_store.remove(target)
            raise
        log.info("registered adapter %s/%s from %s", repo.name, adapter.label, source.path)
        return adapter
    raise AssertionError("unreachable")


# -- switching ---------------------------------------------------------------------------------------


def activate(session: Session, repository: Repository | str, version: str | int) -> Adapter:
    """Make `version` the one new repairs use; activating the active one changes nothing."""
    repo = _repository(session, repository)
    adapter = _live_adapter(session, repo, version)
    if not adapter.active:
        _switch(session, repo, adapter, ActivationAction.ACTIVATE)
    return adapter


def deactivate(session: Session, repository: Repository | str) -> None:
    """Serve the base model again (kept in the history, so a rollback returns to the adapter)."""
    repo = _repository(session, repository)
    if active_adapter(session, repo) is not None:
        _switch(session, repo, None, ActivationAction.DEACTIVATE)


def rollback(session: Session, repository: Repository | str) -> Adapter | None:
    """Return to the version that was active before the current one (None = the base model).

    Each rollback undoes one activation, so repeated rollbacks walk back through the history.
    """
    repo = _repository(session, repository)
    last = session.scalar(
        select(AdapterActivation)
        .where(
            AdapterActivation.repository_id == repo.id,
            AdapterActivation.action.in_([ActivationAction.ACTIVATE, ActivationAction.DEACTIVATE]),
            AdapterActivation.reverted.is_(False),
        )
        .order_by(AdapterActivation.id.desc())
        .limit(1)
    )
    if last is None:
        raise ApiError(409, "no_previous_adapter", f"`{repo.name}` has no earlier activation to roll back to")
    target = None
    if last.previous_version is not None:
        target = get_adapter(session, repo, last.previous_version)
        if target.deleted_at is not None:
            raise ApiError(
                409,
                "previous_adapter_deleted",
                f"the adapter active before, {target.label}, was deleted; activate another version",
            )
    last.reverted = True
    _switch(session, repo, target, ActivationAction.ROLLBACK)
    return target


def change_active(
    session: Session, repository: str, change: Callable[[Session, str], object]
) -> tuple[str | None, str | None]:
    """Apply `change` (`activate`, `rollback`, `deactivate`) and return the active version's label
    before and after it, so an admin sees what the change replaced (None = the base model)."""
    previous = active_label(session, repository)
    change(session, repository)
    return previous, active_label(session, repository)


def _switch(session: Session, repo: Repository, target: Adapter | None, action: ActivationAction) -> None:
    current = active_adapter(session, repo)
    if current is not None:
        current.active = False
        session.flush()  # the partial unique index allows one active row at any moment
    if target is not None:
        target.active = True
        target.activated_at = datetime.now(UTC)
    session.add(
        AdapterActivation(
            repository_id=repo.id,
            action=action,
            version=target.version if target else None,
            previous_version=current.version if current else None,
        )
    )
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise ApiError(
            409, "adapter_switch_conflict", f"another change of `{repo.name}`'s adapter came first; retry"
        ) from err
    log.info(
        "%s: adapter %s -> %s (%s)",
        repo.name,
        current.label if current else "base model",
        target.label if target else "base model",
        action.value,
    )


# -- deleting ----------------------------------------------------------------------------------------


def delete_adapter(
    session: Session, repository: Repository | str, version: str | int, backend: Backend | None = None
) -> Adapter:
    """Delete an inactive version's files (409 for the active one); the row stays, marked deleted,
    so repairs keep naming the version that served them. `backend` frees its weights if loaded."""
    repo = _repository(session, repository)
    adapter = _live_adapter(session, repo, version)
    if adapter.active:
        raise ApiError(
            409,
            "adapter_active",
            f"{adapter.label} is the active adapter of `{repo.name}`; "
            "activate another version or roll back first",
        )
    adapter.deleted_at = datetime.now(UTC)
    session.commit()
    if backend is not None:
        try:
            backend.unload_adapter(adapter_name(repo, adapter))
        except BackendError as err:
            log.warning("could not unload adapter %s: %s", adapter_name(repo, adapter), err)
    adapter_store.remove(Path(adapter.path))
    log.info("deleted adapter %s/%s", repo.name, adapter.label)
    return adapter
