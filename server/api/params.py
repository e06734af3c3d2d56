"""Path parameters shared by the routers, declared once so every route validates them alike."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

RepairId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Repair id")]
RunId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Retraining job id")]
RepositoryName = Annotated[str, Path(min_length=1, max_length=200)]
AdapterVersion = Annotated[str, Path(pattern=r"^[vV]?[0-9]{1,9}$", description="v1, v2, ...")]
