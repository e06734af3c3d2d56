"""Each repository's adapter registry (admin); the logic is in `server.adapters`."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, Response

from server import adapters, service
from server.api.deps import QueueDep, SessionDep, StateDep, require_admin
from server.api.params import AdapterVersion, RepositoryName
from server.schemas import ActiveAdapterOut, AdapterIn, AdapterListOut, AdapterOut
from server.views import active_adapter_out, adapter_list_out, adapter_out

router = APIRouter(prefix="/v1/admin/repositories/{name}/adapters", dependencies=[Depends(require_admin)])


@router.get("")
def list_adapters(name: RepositoryName, session: SessionDep, include_deleted: bool = False) -> AdapterListOut:
    repository = service.repository_by_name(session, name)
    found = adapters.list_adapters(session, repository, include_deleted=include_deleted)
    return adapter_list_out(repository, found, adapters.activation_history(session, repository))


@router.post("", status_code=201)
def register_adapter(
    name: RepositoryName, body: AdapterIn, session: SessionDep, state: StateDep
) -> AdapterOut:
    """Copy a finished adapter folder into the registry as the next version."""
    repository = service.repository_by_name(session, name)
    adapter = adapters.add_adapter(
        session,
        state.settings,
        repository,
        body.path,
        state.queue.backend,
        force=body.force,
        make_active=body.activate,
    )
    return adapter_out(repository, adapter)


@router.post("/rollback")
def rollback_adapter(name: RepositoryName, session: SessionDep) -> ActiveAdapterOut:
    """Return to the version active before the current one (or to the base model)."""
    return active_adapter_out(name, *adapters.change_active(session, name, adapters.rollback))


@router.post("/deactivate")
def deactivate_adapter(name: RepositoryName, session: SessionDep) -> ActiveAdapterOut:
    """Serve the base model to this repository's new repairs."""
    return active_adapter_out(name, *adapters.change_active(session, name, adapters.deactivate))


@router.get("/{version}")
def show_adapter(name: RepositoryName, version: AdapterVersion, session: SessionDep) -> AdapterOut:
    repository = service.repository_by_name(session, name)
    return adapter_out(repository, adapters.get_adapter(session, repository, version))


@router.post("/{version}/activate")
def activate_adapter(name: RepositoryName, version: AdapterVersion, session: SessionDep) -> ActiveAdapterOut:
    """New repairs of the repository use this version from the next request on."""
    activate = partial(adapters.activate, version=version)
    return active_adapter_out(name, *adapters.change_active(session, name, activate))


@router.delete("/{version}", status_code=204)
def delete_adapter(
    name: RepositoryName, version: AdapterVersion, session: SessionDep, queue: QueueDep
) -> Response:
    """Delete an inactive version's files (409 for the active one)."""
    adapters.delete_adapter(session, name, version, queue.backend)
    return Response(status_code=204)
