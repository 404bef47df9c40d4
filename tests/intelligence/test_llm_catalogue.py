"""The embedded models' catalogue: weights found without importing their packages, joined
once, and refused unless the joined file's sha256 is the one recorded."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from compound.errors import UserError
from compound.intelligence.llm.catalogue import (
    CATALOGUE,
    CatalogueModel,
    Chunk,
    catalogue_model,
    prepare,
)
from compound.intelligence.llm.embedded import DEFAULT_MODEL, EmbeddedLLM


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Two installed 'packages' holding a chunk each, whose code must never run."""
    site = tmp_path / "site"
    for name, data in (("fakemodel_part1", b"GGUF-first-"), ("fakemodel_part2", b"second")):
        folder = site / name / "data"
        folder.mkdir(parents=True)
        (site / name / "__init__.py").write_text("raise RuntimeError('imported')\n")
        (folder / "part.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("COMPOUND_MODELS", str(tmp_path / "cache"))
    yield site
    for name in ("fakemodel_part1", "fakemodel_part2"):
        sys.modules.pop(name, None)


def fake(sha256: str) -> CatalogueModel:
    return CatalogueModel(
        name="fake", title="Fake", kind="instruct", file_name="fake.gguf", sha256=sha256,
        chunks=(Chunk("fakemodel_part1", "data/part.bin"), Chunk("fakemodel_part2",
                                                                  "data/part.bin")),
        requirements=("fakemodel-part1==1.0", "fakemodel-part2==1.0"), licence="Apache-2.0",
        attribution="nobody", no_deps=True,
    )


GOOD = hashlib.sha256(b"GGUF-first-second").hexdigest()


def test_chunks_are_joined_in_order_once_and_verified(packages: Path) -> None:
    path = prepare(fake(GOOD))
    assert path.read_bytes() == b"GGUF-first-second"
    assert "fakemodel_part1" not in sys.modules  # found, never imported
    (packages / "fakemodel_part1" / "data" / "part.bin").unlink()
    assert prepare(fake(GOOD)) == path  # the stamp: no chunk is read again


def test_a_wrong_sha256_is_refused_and_nothing_is_kept(packages: Path) -> None:
    with pytest.raises(UserError, match=r"sha256 .* expected 0{64}.*--force-reinstall"):
        prepare(fake("0" * 64))
    cache = Path(str(packages.parent / "cache"))
    assert not any(cache.iterdir())


def test_a_stamp_for_another_hash_is_not_trusted(packages: Path) -> None:
    prepare(fake(GOOD))
    with pytest.raises(UserError, match="sha256"):
        prepare(fake("1" * 64))


def test_a_missing_package_says_how_to_install_it(packages: Path) -> None:
    model = fake(GOOD)
    missing = CatalogueModel(**{**model.__dict__, "chunks": (Chunk("fakemodel_part9", "x"),)})
    with pytest.raises(UserError, match=r"fakemodel_part9 missing; install it with: pip "
                                        r"install --no-deps fakemodel-part1==1.0"):
        prepare(missing)


def test_the_catalogue_pins_every_package_and_names_its_licence() -> None:
    assert DEFAULT_MODEL in CATALOGUE
    for model in CATALOGUE.values():
        assert all("==" in r for r in model.requirements)
        assert len(model.sha256) == 64 and model.licence and model.attribution
        assert model.kind in ("base", "instruct")
    assert catalogue_model("gemma-3-270m-q4_k_m").install == "pip install 'compound[gemma]'"
    assert DEFAULT_MODEL == "qwen2.5-coder-0.5b-instruct-q4_k_m"  # installed with compound
    assert catalogue_model(DEFAULT_MODEL).extra is None


def test_an_unknown_model_name_is_a_spec_mistake_before_anything_loads() -> None:
    with pytest.raises(UserError, match=r"no model named 'gpt-5'.*gemma-3-270m-q4_k_m"):
        EmbeddedLLM(model="gpt-5")
    EmbeddedLLM(model="my-label", model_path="/nowhere.gguf")  # a label for a file: fine
