"""The settings every editor client sends are the ones the language server reads, with the same defaults.

A renamed key on either side would otherwise be ignored silently by the server.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from lsp.config import LspConfig, merge
from repomend.cli import build_parser

EDITORS = Path(__file__).resolve().parents[2] / "editors"
VSCODE = json.loads((EDITORS / "vscode" / "package.json").read_text())
JETBRAINS = EDITORS / "jetbrains"
CLIENT_ONLY = {"repomend.command"}
"""Read by the client itself (which program to start), never sent to the server."""


def vscode_properties() -> dict[str, dict]:
    return VSCODE["contributes"]["configuration"]["properties"]


def sample_value(key: str, schema: dict):
    """A valid value that differs from the server's default."""
    if "enum" in schema:
        return schema["enum"][-1]
    if schema["type"] == "integer":
        return schema["maximum"]
    return "https://repair.example:9000" if key == "serverUrl" else "some-value"


@pytest.mark.parametrize("name", sorted(set(vscode_properties()) - CLIENT_ONLY))
def test_every_vscode_setting_is_read_by_the_server(name):
    key = name.removeprefix("repomend.")
    value = sample_value(key, vscode_properties()[name])
    config, problems = merge(LspConfig(), {key: value})
    assert problems == []
    assert config != LspConfig(), f"the language server ignores `{key}`"


def test_vscode_defaults_are_the_servers():
    properties = vscode_properties()
    defaults = {name.removeprefix("repomend."): spec["default"] for name, spec in properties.items()}
    defaults = {key: value for key, value in defaults.items() if f"repomend.{key}" not in CLIENT_ONLY}
    config, problems = merge(LspConfig(), defaults)
    assert problems == []
    assert (config.server_url, config.mode, config.token, config.repository) == (
        LspConfig().server_url,
        LspConfig().mode,
        None,
        None,
    )
    assert properties["repomend.command"]["default"] == "repomend"


def test_vscode_contributes_the_reject_command_the_server_offers():
    commands = {entry["command"]: entry["title"] for entry in VSCODE["contributes"]["commands"]}
    assert commands["repomend.rejectLastFix"] == "Reject last fix"


def test_jetbrains_template_starts_the_language_server_for_python_files():
    template = json.loads((JETBRAINS / "template.json").read_text())
    program, *arguments = shlex.split(template["programArgs"]["default"])
    assert program == "repomend"
    parsed = build_parser().parse_args(arguments)
    assert parsed.command == "lsp" and not parsed.tcp, "stdio, as LSP4IJ talks to it"
    mappings = template["fileTypeMappings"]
    assert [pattern for mapping in mappings for pattern in mapping["fileType"]["patterns"]] == ["*.py"]
    assert [mapping["languageId"] for mapping in mappings] == ["python"]


@pytest.mark.parametrize("name", ["settings.json", "initializationOptions.json"])
def test_jetbrains_settings_are_valid_for_the_server(name):
    options = json.loads((JETBRAINS / name).read_text())
    config, problems = merge(LspConfig(), options)
    assert problems == []
    assert (config.server_url, config.mode, config.max_turns) == ("http://127.0.0.1:8765", "no-think", None)
