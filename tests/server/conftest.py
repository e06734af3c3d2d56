"""Server fixtures: settings with tokens and a migrated SQLite database."""

from __future__ import annotations

import pytest

from repomend.settings import ServerSettings
from server.db.migrate import upgrade
from tests.support.server_client import ADMIN_TOKEN, USER_TOKEN


@pytest.fixture
def server_settings(settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'server.db'}"
    upgrade(url)
    return settings.model_copy(
        update={
            "database_url": url,
            "server": ServerSettings(token=USER_TOKEN, admin_token=ADMIN_TOKEN, queue_capacity=1),
        }
    )
