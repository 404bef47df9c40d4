"""Shared fixtures: isolated COMPOUND_HOME, shared datasets that skip when absent, the
embedded model loaded once per session, one local Ray cluster per session.

Ray tests carry the ``ray`` marker (``-m ray`` runs only them, ``-m 'not ray'`` leaves them
out) and the ``ray_cluster`` fixture; they run in CI, where ``compound[ray]`` comes with the
dev extras."""

from __future__ import annotations

import logging
import os

# OpenMP threads (LightGBM, scikit-learn, llama.cpp) spin while waiting by default; on a
# shared 2-core machine that starves the other thread and slowed some tests tenfold.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from compound.public_data import DatasetMissing, dataset_path


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own COMPOUND_HOME so nothing leaks into the user's store (and no
    COMPOUND_STORE_URL from the shell sends it to a PostgreSQL database instead)."""
    monkeypatch.setenv("COMPOUND_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("COMPOUND_STORE_URL", raising=False)


@pytest.fixture
def shared_dataset() -> Callable[[str], Path]:
    """``shared_dataset("banking77/test.jsonl")``: the path, or a skip naming the dataset."""

    def find(relative: str) -> Path:
        try:
            return dataset_path(relative)
        except DatasetMissing as exc:
            pytest.skip(str(exc))

    return find


@pytest.fixture(scope="session")
def embedded_llm() -> Iterator[object]:
    """The real embedded model (the default, via llama.cpp), loaded once."""
    from compound.intelligence.llm.embedded import EmbeddedLLM

    llm = EmbeddedLLM(n_ctx=2048)
    llm.load()
    yield llm


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """``ray.init`` once: 8 logical CPUs (for 8 light actors), no dashboard, a small object
    store, quiet logs; shut down at the end of the session."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):  # compound[ray] is in the dev extras: CI must have it
            pytest.fail("Ray is not installed; pip install -e '.[all,dev]'")
        pytest.skip("Ray is not installed; pip install 'compound[ray]'")
    ray.init(num_cpus=8, include_dashboard=False, object_store_memory=200 * 1024**2,
             logging_level=logging.WARNING, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


#: ``install(name, {group: {entry: "module:attribute"}}, folder=None) -> folder``
InstallPlugin = Callable[..., Path]


@pytest.fixture
def plugin_distribution(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InstallPlugin]:
    """Install a third party's distribution as pip does: a ``NAME-1.0.dist-info`` folder with
    ``METADATA`` and ``entry_points.txt``, in a folder put on ``sys.path`` (a fresh one, or
    ``folder``, e.g. a spec's folder)."""
    from compound.plugins import _registered

    def install(name: str, groups: dict[str, dict[str, str]], folder: Path | None = None,
                *, on_path: bool = True) -> Path:
        root = folder if folder is not None else tmp_path_factory.mktemp("site")
        info = root / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("".join(
            f"[{group}]\n" + "".join(f"{entry} = {target}\n" for entry, target in points.items())
            for group, points in groups.items()))
        if on_path:
            monkeypatch.syspath_prepend(str(root))
        _registered.cache_clear()
        return root

    yield install
    _registered.cache_clear()
