"""Conversions into GGUF with llama.cpp's own scripts (kept beside the built server).

`lora_to_gguf` turns a PEFT adapter folder into `adapter.gguf` inside it (what llama-server loads
with `--lora`); `hf_to_gguf` turns a Hugging Face model folder into one GGUF file (any local model
folder can then be served by llama.cpp). Both write under a temporary name and rename, so a failed
conversion never leaves a file that looks finished.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from repomend.llamacpp.build import engine_files
from repomend.settings import Settings

ADAPTER_GGUF = "adapter.gguf"


class ConversionError(RuntimeError):
    """A conversion script failed; the message ends with its last lines."""


def _script(settings: Settings, name: str) -> Path:
    files = engine_files(settings.llamacpp_dir)
    script = files.sources / name
    if not script.is_file():
        raise ConversionError(f"{script} is missing; run `repomend engine build` (the set-up does)")
    return script


def _run(command: list[str], out: Path, what: str) -> None:
    tmp = out.with_name(f".{out.name}.partial")
    tmp.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, *command, "--outfile", str(tmp)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    if result.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-6:])
        raise ConversionError(f"converting {what} failed (exit {result.returncode}): {tail}")
    tmp.chmod(0o644)
    os.replace(tmp, out)


def lora_to_gguf(adapter: Path, base_config: Path, settings: Settings) -> Path:
    """`adapter.gguf` beside the PEFT files (f16, applied on any quantised base), written anew;
    `base_config` is a folder with the base model's `config.json`."""
    out = adapter / ADAPTER_GGUF
    script = _script(settings, "convert_lora_to_gguf.py")
    _run(
        [str(script), "--base", str(base_config), "--outtype", "f16", str(adapter)], out, f"adapter {adapter}"
    )
    return out


def hf_to_gguf(folder: Path, out: Path, settings: Settings, *, outtype: str = "f16") -> Path:
    """One GGUF file of a Hugging Face model folder (weights, tokenizer and chat template)."""
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    script = _script(settings, "convert_hf_to_gguf.py")
    _run([str(script), "--outtype", outtype, str(folder)], out, f"model folder {folder}")
    return out
