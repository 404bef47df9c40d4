"""The plugin registry: compound's built-ins in one table, third parties' entry points adding
names to it, and no distribution (least of all one in a downloaded spec folder) replacing a
built-in."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from compound import plugins
from compound.errors import UserError
from compound.plugins import BUILTINS, PluginConflict, load, registered
from compound.system import System

ROOT = Path(__file__).resolve().parents[1]

InstallPlugin = Callable[..., Path]


def test_pyproject_declares_no_entry_points_in_compounds_groups() -> None:
    """The table is the one list: an installed package and a source checkout read the same."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = set(project.get("entry-points", {}))
    assert not {g for g in groups if g.startswith("compound.")}, groups
    assert all(group.startswith("compound.") for group in BUILTINS)


@pytest.mark.parametrize(("group", "name"),
                         [(g, n) for g, names in BUILTINS.items() for n in names])
def test_every_builtin_loads_to_something_callable(group: str, name: str) -> None:
    assert callable(load(group, name))


def test_the_registry_holds_the_builtins_read_the_same_in_each_group() -> None:
    """Whatever an older install of compound left in its own metadata, the table wins."""
    for group, names in BUILTINS.items():
        assert registered(group) == dict(names)
    assert {"router", "fallback", "ensemble", "retriever", "predictor"} <= set(
        registered("compound.steps"))


def test_learners_with_parameters_are_the_registered_learners() -> None:
    from compound.intelligence.ml.params import LEARNERS

    assert set(LEARNERS) == set(BUILTINS["compound.learners"])


def test_an_unknown_name_says_what_there_is() -> None:
    with pytest.raises(UserError, match=r"no metric named 'acuracy' \(did you mean 'accuracy'"
                                        r"\?\); available: .*macro_f1"):
        load("compound.metrics", "acuracy")


def test_a_third_party_adds_a_name(plugin_distribution: InstallPlugin) -> None:
    plugin_distribution("extra-metrics", {"compound.metrics": {"shout": "test_plugins:shout"}})
    assert registered("compound.metrics")["shout"] == "test_plugins:shout"
    assert load("compound.metrics", "shout")("hi") == "HI"
    assert registered("compound.metrics")["accuracy"] == BUILTINS["compound.metrics"]["accuracy"]


def test_a_third_party_cannot_replace_a_builtin(plugin_distribution: InstallPlugin) -> None:
    site = plugin_distribution("evil-metrics",
                               {"compound.metrics": {"accuracy": "test_plugins:shout"}})
    with pytest.raises(PluginConflict) as caught:
        registered("compound.metrics")
    message = str(caught.value)
    assert "'evil-metrics'" in message and str(site) in message
    assert "'accuracy'" in message and "compound.metrics.corpus:accuracy" in message
    assert "Register it under another name" in message


def test_naming_a_builtin_with_its_own_target_is_no_conflict(
    plugin_distribution: InstallPlugin,
) -> None:
    target = BUILTINS["compound.providers"]["scripted"]
    plugin_distribution("repackaged", {"compound.providers": {"scripted": target}})
    assert registered("compound.providers")["scripted"] == target


SPEC = """\
name: downloaded
loop: interaction
task: Answer.
models:
  llm: {provider: scripted, options: {replies: ["4"]}}
evals:
  qa:
    dataset: {path: qa.jsonl, expected: answer}
    target: {model: llm, prompt: "{question}"}
    metrics: [accuracy]
"""

DESK = """\
import pathlib

pathlib.Path(__file__).with_name("CANARY").write_text("imported")


def always_one(predictions, references):
    return 1.0


class Anything:
    def __init__(self, **options):
        pass
"""


def test_a_dist_info_in_a_spec_folder_cannot_replace_builtins_at_run_time(
    tmp_path: Path, plugin_distribution: InstallPlugin, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The folder is on sys.path while the system runs, so its entry points are found; the
    ones naming a built-in are refused, and the folder's module is never imported for them."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # System.load appends the folder
    (tmp_path / "compound.yaml").write_text(SPEC)
    (tmp_path / "qa.jsonl").write_text('{"question": "2+2?", "answer": "4"}\n')
    (tmp_path / "desk_sneaky.py").write_text(DESK)
    plugin_distribution("sneaky", {"compound.metrics": {"accuracy": "desk_sneaky:always_one"},
                                   "compound.providers": {"scripted": "desk_sneaky:Anything"}},
                        folder=tmp_path, on_path=False)
    system = System.load(tmp_path)  # puts the folder on sys.path, as run, eval and up do
    plugins._registered.cache_clear()  # a later load in the same process reads it afresh
    from compound.intelligence.llm.factory import build_llm
    from compound.metrics.registry import get_metric

    with pytest.raises(PluginConflict, match=r"distribution 'sneaky' \(found in .*\) registers"
                                             r" the metric 'accuracy'"):
        get_metric("accuracy")
    with pytest.raises(PluginConflict, match=r"registers the provider 'scripted'"):
        build_llm(system.llms()["llm"])
    assert not (tmp_path / "CANARY").exists()


def shout(text: str) -> str:
    """A third party's metric (any callable will do for the registry)."""
    return text.upper()


def test_a_third_party_retriever_kind_and_embedder_are_used_from_the_spec(
    tmp_path: Path, plugin_distribution: InstallPlugin,
) -> None:
    """Registered names are accepted by the spec and built by the same code as built-ins."""
    from compound.orchestration.retrieval.build import build_retriever

    plugin_distribution("extra-retrieval", {
        "compound.retrievers": {"first_only": "test_plugins:first_only_retriever"},
        "compound.embedders": {"tiny": "compound.intelligence.embedders.fake:FakeEmbedder"}})
    (tmp_path / "docs").mkdir()
    system = System.from_yaml(
        "name: r\nloop: interaction\ntask: t\nretrievers:\n"
        "  docs: {kind: first_only, embedder: tiny, embedder_options: {dim: 8}, "
        f"documents: [{tmp_path / 'docs'}], index: {tmp_path / 'index'}}}\n")
    retriever = build_retriever(system, "docs")
    assert isinstance(retriever, FirstOnly) and retriever.index.embedder is not None
    assert retriever.index.embedder.embed(["a b"]).shape == (1, 8)
    with pytest.raises(UserError, match=r"unknown retriever kind 'first_onyl' \(did you mean "
                                        r"'first_only'\?\)"):
        System.from_yaml("name: r\nloop: interaction\ntask: t\nretrievers:\n"
                         "  docs: {kind: first_onyl}\n")


def first_only_retriever(index: object, spec: object, **common: object) -> object:
    """A third party's retriever kind: the same signature as the built-in kinds'."""
    return FirstOnly(index, **common)


class FirstOnly:
    def __init__(self, index: object, **common: object) -> None:
        self.index = index
        self.common = common


def test_each_builtin_router_kind_has_its_own_spec_class() -> None:
    import typing

    from compound.strategy.spec import RouterSpec

    union = typing.get_args(RouterSpec)[0]
    tags = {typing.get_args(option)[1].tag for option in typing.get_args(union)}
    assert tags == {*BUILTINS["compound.routers"], "plugin"}


def test_check_reports_a_spec_folders_dist_info_replacing_a_builtin(
    tmp_path: Path, plugin_distribution: InstallPlugin, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Check keeps the folder off sys.path, so it reads the folder's entry points itself: what
    run would refuse is a problem at check time too, at the file, with nothing imported."""
    from compound.checking import check_problems

    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "compound.yaml").write_text(SPEC)
    (tmp_path / "qa.jsonl").write_text('{"question": "2+2?", "answer": "4"}\n')
    (tmp_path / "desk_checked.py").write_text(DESK)
    plugin_distribution("sneaky", {"compound.metrics": {"accuracy": "desk_checked:always_one",
                                                        "extra": "desk_checked:always_one"}},
                        folder=tmp_path, on_path=False)
    problems = check_problems(System.load(tmp_path))
    [conflict] = [p for p in problems if "sneaky-1.0.dist-info" in p]
    assert conflict.startswith(f"{tmp_path / 'sneaky-1.0.dist-info' / 'entry_points.txt'}: ")
    assert "registers the metric 'accuracy'" in conflict and "'extra'" not in conflict
    assert not (tmp_path / "CANARY").exists()
