"""Hostile YAML: alias bombs, self-reference, deep nesting, huge files, tags (issue 14, part 2).

Every YAML compound reads goes through :func:`compound.yaml_loader.load_yaml`. Each hostile
document must end, quickly and in little memory, in a :class:`SpecError` naming the file and
the line; never a traceback, never a hang. The bombs also go through the real
``compound check`` in a subprocess, whose time and peak memory are bounded.
"""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound import yaml_loader
from compound.errors import SpecError, UserError
from compound.system import System
from compound.yaml_loader import YAMLLimits, load_yaml

ROOT = Path(__file__).resolve().parents[2]
HEAD = """name: probe
loop: interaction
task: Answer.
models:
  llm:
    kind: llm
    provider: scripted
    options:
"""


def laughs_list(levels: int = 9, width: int = 10) -> str:
    lines = ['      l0: &l0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for level in range(1, levels):
        lines.append(f"      l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return HEAD + "\n".join(lines) + "\n"


def laughs_map(levels: int = 9, width: int = 10) -> str:
    lines = ["      m0: &m0 {" + ", ".join(f"k{i}: lol" for i in range(width)) + "}"]
    for level in range(1, levels):
        lines.append(f"      m{level}: &m{level} {{"
                     + ", ".join(f"k{i}: *m{level - 1}" for i in range(width)) + "}")
    return HEAD + "\n".join(lines) + "\n"


def merge_bomb(levels: int = 9, width: int = 10) -> str:
    lines = ["      g0: &g0 {" + ", ".join(f"k{i}: [lol, lol]" for i in range(width)) + "}"]
    for level in range(1, levels):
        keys = ", ".join(f"x{i}: *g{level - 1}" for i in range(width))
        lines.append(f"      g{level}: &g{level} {{<<: *g{level - 1}, {keys}}}")
    return HEAD + "\n".join(lines) + "\n"


def wide_alias() -> str:
    """One anchor of 10,000 values, named 1,000 times (quadratic rather than exponential)."""
    anchor = "      big: &big [" + ", ".join(["x"] * 10_000) + "]\n"
    return HEAD + anchor + "      many: [" + ", ".join(["*big"] * 1_000) + "]\n"


def deep(kind: str, depth: int) -> str:
    if kind == "flow-list":
        body = "[" * depth + "]" * depth
    elif kind == "flow-map":
        body = "{a: " * depth + "x" + "}" * depth
    elif kind == "block-list":
        body = "\n" + "        " + "- " * depth + "x"
    else:  # block-map: one key per line, each indented one more space
        body = "\n" + "\n".join(" " * (8 + i) + "a:" for i in range(depth)) + " x"
    return HEAD + "      deep: " + body + "\n"


BOMBS = {
    "laughs-list": laughs_list(),
    "laughs-map": laughs_map(),
    "merge-bomb": merge_bomb(),
    "wide-alias": wide_alias(),
    "self-list": HEAD + "      loop: &a [1, *a]\n",
    "self-map": HEAD + "      loop: &a {x: *a}\n",
    "self-merge": HEAD + "      loop: &a {<<: *a}\n",
    "self-nested": HEAD + "      loop: &a {x: [1, {y: [*a]}]}\n",
    "deep-500-flow-list": deep("flow-list", 500),
    "deep-5000-flow-list": deep("flow-list", 5000),
    "deep-500-flow-map": deep("flow-map", 500),
    "deep-5000-flow-map": deep("flow-map", 5000),
    "deep-500-block-list": deep("block-list", 500),
    "deep-5000-block-list": deep("block-list", 5000),
    "deep-500-block-map": deep("block-map", 500),
    "deep-100000-flow-list": deep("flow-list", 100_000),
    "python-apply": HEAD + "      x: !!python/object/apply:os.system ['touch CANARY']\n",
    "python-new": HEAD + "      x: !!python/object/new:os.system [touch CANARY]\n",
    "python-object": HEAD + "      x: !!python/object:os.system {}\n",
    "python-name": HEAD + "      x: !!python/name:os.system\n",
    "python-module": HEAD + "      x: !!python/module:os\n",
    "verbatim-tag": HEAD + "      x: !<tag:yaml.org,2002:python/object/apply:os.system> [ls]\n",
    "tag-directive": "%TAG !p! tag:yaml.org,2002:python/\n---\n" + HEAD
                     + "      x: !p!object/apply:os.system ['touch CANARY']\n",
    "custom-tag": HEAD + "      x: !env HOME\n",
    "set-tag": HEAD + "      x: !!set {a, b}\n",
    "huge-int": HEAD + "      x: " + "9" * 100_000 + "\n",
    "bad-date": HEAD + "      x: 2024-02-31\n",
    "control-char": HEAD + "      x: a\x07b\n",
    "two-documents": HEAD + "---\nname: other\n",
    "undefined-alias": HEAD + "      x: *nothing\n",
    "list-key": HEAD + "      ? [a, b]\n      : c\n",
}
TAGS = [name for name in BOMBS if "python" in name or "tag" in name]


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_each_bomb_is_a_spec_error_with_the_file_and_line(name: str) -> None:
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        System.from_yaml(BOMBS[name], source="bomb.yaml")
    assert time.monotonic() - started < 30, "a bomb must stop early"
    problems = info.value.problems
    assert problems and all(p.startswith("bomb.yaml:") for p in problems), problems
    assert any(p.split(":")[1].strip().isdigit() for p in problems), problems


@pytest.mark.parametrize("name", TAGS)
def test_no_tag_builds_an_object(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                 ) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match=r"bomb\.yaml:\d+: the tag '.*' is not allowed"):
        load_yaml(BOMBS[name], source="bomb.yaml")
    assert not (tmp_path / "CANARY").exists()


def test_expansion_stops_at_the_value_limit_and_says_why() -> None:
    with pytest.raises(SpecError, match=r"holds more than 100,000 values once its aliases are "
                                        r"expanded"):
        load_yaml(laughs_list(), source="bomb.yaml")
    small = YAMLLimits(max_values=50)
    with pytest.raises(SpecError, match="more than 50 values"):
        load_yaml("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [*a, *a, *a, *a, *a]\n",
                  source="s.yaml", limits=small)


def test_depth_and_self_reference_messages_name_the_line() -> None:
    with pytest.raises(SpecError, match=r"s\.yaml:3: lists and mappings nest more than 64"):
        load_yaml("a: 1\nb: 2\nc: " + "[" * 70 + "]" * 70 + "\n", source="s.yaml")
    with pytest.raises(SpecError, match=r"s\.yaml:2: the alias '\*a' is inside the value"):
        load_yaml("a:\n  &a [1, *a]\n", source="s.yaml")
    # an alias that adds depth counts it: 40 levels named at 40 levels is too deep
    forty = "[" * 40 + "]" * 40
    with pytest.raises(SpecError, match="nest more than 64"):
        load_yaml(f"a: &a {forty}\nb: {'[' * 39}*a{']' * 39}\n", source="s.yaml")


def test_a_50_mb_spec_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    spec = tmp_path / "compound.yaml"
    spec.write_text(HEAD + "      filler: '" + "x" * (50 * 2**20) + "'\n")
    started = time.monotonic()
    with pytest.raises(SpecError, match=r"compound\.yaml: the document is 50\.0 MiB, above "):
        System.load(spec)
    assert time.monotonic() - started < 30
    with pytest.raises(SpecError, match=r"above the 2\.0 MiB"):
        load_yaml("x" * (5 * 2**20), source="s.yaml")


def test_ordinary_aliases_and_merge_keys_still_work_with_their_lines() -> None:
    text = ("defaults: &gen {max_tokens: 48, temperature: 0.0}\n"
            "a:\n  generation: *gen\n"
            "b:\n  generation:\n    <<: *gen\n    max_tokens: 96\n"
            "c: [&x one, *x]\n")
    doc = load_yaml(text, source="s.yaml")
    assert doc.data == {"defaults": {"max_tokens": 48, "temperature": 0.0},
                        "a": {"generation": {"max_tokens": 48, "temperature": 0.0}},
                        "b": {"generation": {"max_tokens": 96, "temperature": 0.0}},
                        "c": ["one", "one"]}
    assert doc.data["a"]["generation"] is not doc.data["defaults"]  # copies, not shared
    assert doc.line_of(("a", "generation", "max_tokens")) == 3
    assert doc.line_of(("b", "generation", "max_tokens")) == 7
    assert doc.line_of(("b", "generation", "temperature")) == 6


def test_an_error_inside_an_aliased_value_names_the_alias_line() -> None:
    text = (HEAD.replace("    options:\n", "")
            + "    generation: &gen {max_tokens: -5}\n"
            "  other:\n    kind: llm\n    provider: scripted\n    generation: *gen\n")
    with pytest.raises(SpecError) as info:
        System.from_yaml(text, source="s.yaml")
    assert "s.yaml:8: models.llm.generation.max_tokens" in str(info.value)
    assert "s.yaml:12: models.other.generation.max_tokens" in str(info.value)


def test_every_shipped_spec_reads_as_pyyaml_reads_it() -> None:
    specs = sorted([*ROOT.glob("examples/*/compound.yaml"),
                    *ROOT.glob("src/compound/**/*.yaml")])
    assert specs
    for path in specs:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text, source=str(path)).data == yaml.safe_load(text), path


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_like, st.booleans())
def test_plain_data_round_trips_as_with_pyyaml(data: object, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    assert load_yaml(text, source="s.yaml").data == yaml.safe_load(text)


YAML_TOKENS = st.sampled_from([
    "a", "b: ", "- ", "&x ", "*x", "&y ", "*y", "<<: ", "[", "]", "{", "}", ", ", ": ", "\n",
    "  ", "? ", "!!python/object:os.system ", "!!str ", "!!int ", "!custom ", "'q'", '"q"',
    "|\n  ", ">\n  ", "#c", "---\n", "...\n", "%TAG ! tag:x\n", "1e9999", "9" * 5000, "~",
    "2024-13-45", "\t", "\x00", "\ud800", "\ufeff", "null", "&x [*x]", "- - - ",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(YAML_TOKENS, max_size=60).map("".join))
def test_fuzzed_yaml_gives_data_or_a_spec_error_with_its_line(text: str) -> None:
    started = time.monotonic()
    try:
        load_yaml(text, source="fuzz.yaml")
    except SpecError as exc:
        for problem in exc.problems:
            head = problem.split(":", 2)
            assert head[0] == "fuzz.yaml" and head[1].isdigit(), problem
    assert time.monotonic() - started < 10


SUPPORT_DESK = (ROOT / "examples" / "support_desk" / "compound.yaml").read_text()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SUPPORT_DESK)), st.integers(0, 40), YAML_TOKENS)
def test_a_mutated_spec_is_valid_or_a_user_error(position: int, cut: int, token: str) -> None:
    text = SUPPORT_DESK[:position] + token + SUPPORT_DESK[position + cut:]
    started = time.monotonic()
    try:
        System.from_yaml(text, source="compound.yaml")
    except UserError as exc:
        assert "compound.yaml" in str(exc)
    assert time.monotonic() - started < 10


def test_docstring_examples() -> None:
    result = doctest.testmod(yaml_loader, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- the real CLI ------------------------------------------------------------------------------

# Runs `compound check FILE` in a child of a fresh interpreter, so RUSAGE_CHILDREN's peak is
# that child's alone; prints the peak (KiB on Linux) and the wall time on the last line.
MEASURE = """
import resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr + f"\\nMEASURED {peak} {time.monotonic() - started:.2f}\\n")
sys.exit(done.returncode)
"""


def compound_check(path: Path) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """``compound check path`` in a subprocess: the result, peak MiB and seconds."""
    command = [sys.executable, "-c", "import sys; from compound.cli import main; main()",
               "check", str(path)]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True,
                          text=True, timeout=180, env=env, cwd=path.parent)
    *rest, last = done.stderr.rstrip().splitlines()
    _, peak_kib, seconds = last.split()
    result = subprocess.CompletedProcess(done.args, done.returncode, done.stdout,
                                         "\n".join(rest))
    return result, int(peak_kib) / 1024, float(seconds)


CLI_BOMBS = ["laughs-list", "laughs-map", "merge-bomb", "wide-alias", "self-list",
             "self-merge", "deep-500-flow-map", "deep-5000-flow-list", "deep-5000-block-list",
             "deep-100000-flow-list", "python-apply", "tag-directive", "huge-int"]


@pytest.mark.integration
@pytest.mark.parametrize("name", CLI_BOMBS)
def test_compound_check_on_a_bomb_errors_quickly_in_bounded_memory(name: str, tmp_path: Path
                                                                   ) -> None:
    spec = tmp_path / "compound.yaml"
    spec.write_text(BOMBS[name], encoding="utf-8")
    done, peak_mib, seconds = compound_check(spec)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "RecursionError" not in output
    assert "error:" in done.stderr and "compound.yaml:" in done.stderr, output
    assert seconds < 30, f"{name}: {seconds:.1f} s"
    assert peak_mib < 500, f"{name}: {peak_mib:.0f} MiB"
    assert not (tmp_path / "CANARY").exists()


@pytest.mark.integration
def test_compound_check_on_a_50_mb_spec_errors_quickly_in_bounded_memory(tmp_path: Path
                                                                         ) -> None:
    spec = tmp_path / "compound.yaml"
    spec.write_text(HEAD + "      filler: '" + "lol " * (50 * 2**18) + "'\n", encoding="utf-8")
    done, peak_mib, seconds = compound_check(spec)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "MiB, above the" in done.stderr
    assert seconds < 30 and peak_mib < 500, (seconds, peak_mib)


@pytest.mark.integration
def test_compound_check_still_passes_a_valid_spec(tmp_path: Path) -> None:
    done, _, _ = compound_check(ROOT / "examples" / "support_desk" / "compound.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid" in done.stdout
