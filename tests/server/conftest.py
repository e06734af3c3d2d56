"""Server fixtures: settings with tokens and a migrated SQLite database."""

from __future__ import annotations

import pytest

from repomend.settings import ServerSettings
from server.db.migrate import upgrade


@pytest.fixture
def server_settings(settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'server.db'}"
    upgrade(url)
    return settings.model_copy(
        update={
            "database_url": url,
            "server": ServerSettings(token="user-secret", admin_token="admin-secret", queue_capacity=1),
        }
    )


ADMIN = {"Authorization": "Bearer admin-secret"}


def register(http, repo, python, name: str = "stats") -> None:
    """Register `repo` through the admin API of `http` (a TestClient or an httpx client)."""
    response = http.post(
        "/v1/admin/repositories", json={"name": name, "path": str(repo), "python": str(python)}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
