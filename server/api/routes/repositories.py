"""Registered repositories (admin): repairs may only touch these."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from server import service
from server.api.deps import SessionDep, require_admin
from server.api.params import RepositoryName
from server.schemas import RepositoryIn, RepositoryOut

router = APIRouter(prefix="/v1/admin/repositories", dependencies=[Depends(require_admin)])


@router.post("", status_code=201)
def add_repository(body: RepositoryIn, session: SessionDep) -> RepositoryOut:
    return RepositoryOut.model_validate(service.register_repository(session, body))


@router.get("")
def list_repositories(session: SessionDep) -> list[RepositoryOut]:
    return [RepositoryOut.model_validate(r) for r in service.list_repositories(session)]


@router.get("/{name}")
def show_repository(name: RepositoryName, session: SessionDep) -> RepositoryOut:
    return RepositoryOut.model_validate(service.repository_by_name(session, name))


@router.delete("/{name}", status_code=204)
def remove_repository(name: RepositoryName, session: SessionDep) -> Response:
    service.remove_repository(session, name)
    return Response(status_code=204)
