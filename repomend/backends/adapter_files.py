"""Where a named LoRA adapter lives on disk; the one rule both backends follow.

A name is either `<name>` (a folder directly under the adapters folder), `<repository>/<version>`
(the server's registry, e.g. `stats/v3`), or an absolute path to an adapter folder. Relative
names never leave the adapters folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from repomend.settings import Settings

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_MANIFEST = "repomend_adapter.json"
"""What fine-tuning writes beside the PEFT files: the base model's name, the data, the metrics."""
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_RELATIVE_NAME = re.compile(rf"^{_PART}(?:/{_PART})?$")


def adapter_path(settings: Settings, name: str) -> Path | None:
    """The folder `name` refers to, or None when the name is malformed or holds no adapter."""
    if not name or "\x00" in name:
        return None
    if name.startswith("/"):
        path = Path(name)
    elif _RELATIVE_NAME.match(name):
        path = settings.resolved_adapters_dir / name
    else:
        return None
    try:
        return path if (path / ADAPTER_CONFIG).is_file() else None
    except OSError:  # a name too long for the filesystem, a permission error
        return None


def adapter_base_model(settings: Settings, name: str) -> str | None:
    """The base model the adapter was trained on, as its manifest names it (`settings.model` of
    the training run); None when the adapter is unknown or has no readable manifest."""
    folder = adapter_path(settings, name)
    if folder is None:
        return None
    try:
        base = json.loads((folder / ADAPTER_MANIFEST).read_text(encoding="utf-8")).get("base_model")
    except (OSError, ValueError, AttributeError):
        return None
    return base if isinstance(base, str) and base else None


def available_adapters(settings: Settings) -> list[str]:
    """Every name under the adapters folder that holds an adapter, for error messages."""
    root = settings.resolved_adapters_dir
    if not root.is_dir():
        return []
    names = []
    for child in root.iterdir():
        if child.name.startswith(".") or not child.is_dir():
            continue
        if (child / ADAPTER_CONFIG).is_file():
            names.append(child.name)
            continue
        names += [
            f"{child.name}/{version.name}"
            for version in child.iterdir()
            if not version.name.startswith(".") and (version / ADAPTER_CONFIG).is_file()
        ]
    return sorted(names)
