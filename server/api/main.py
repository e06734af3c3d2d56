"""The API's routers in the order they are matched (and listed in the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.routes import adapters, health, repairs, repositories, retraining

api_router = APIRouter()
for resource in (health, repositories, adapters, retraining, repairs):
    api_router.include_router(resource.router)
