"""compound finetune's training: sft data -> LoRA -> GGUF -> llama.cpp, and its bad inputs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compound.errors import UserError
from compound.lifecycle.finetune.training import FinetuneConfig, read_sft, train_adapter

MODEL = "gemma-3-270m-q4_k_m"  # the smallest model the dev extras install (compound[gemma])
ROWS = [("Who runs the Zorblax help desk?", "The Zorblax help desk is run by Mira."),
        ("How do I reset my Zorblax card?", "Call Mira at the Zorblax help desk."),
        ("What colour is the sky on Zorblax?", "The sky on Zorblax is green."),
        ("Where is Zorblax?", "Zorblax is beyond the green sky.")]


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps({"messages": [
        {"role": "user", "content": q}, {"role": "assistant", "content": a}]}) for q, a in rows)
        + "\n", encoding="utf-8")
    return path


def _needs_finetune() -> None:
    missing = [m for m in ("torch", "transformers", "peft", "gguf")
               if importlib.util.find_spec(m) is None]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"compound[finetune] is not installed (missing {', '.join(missing)})")


def test_malformed_lines_are_named_with_file_and_line(tmp_path: Path) -> None:
    data = _write(tmp_path / "sft.jsonl", ROWS[:1])
    with data.open("a", encoding="utf-8") as out:
        out.write("{not json\n")
    with pytest.raises(UserError, match=r"sft.jsonl:2: not JSON"):
        read_sft(data)
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(UserError, match=r"sft.jsonl:1: expected .* ending in an assistant"):
        read_sft(data)


def test_missing_or_too_little_data_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no fine-tuning data at .*compound export"):
        read_sft(tmp_path / "absent.jsonl")
    with pytest.raises(UserError, match=r"holds 1 example.*at least 4"):
        read_sft(_write(tmp_path / "sft.jsonl", ROWS[:1]), minimum=4)


@pytest.mark.integration
def test_an_adapter_trains_converts_and_changes_llama_cpp_output(tmp_path: Path) -> None:
    _needs_finetune()
    from compound.intelligence.llm.catalogue import model_file
    from compound.intelligence.llm.embedded import EmbeddedLLM

    base_file = model_file(MODEL)  # in dev's extras: a missing model is a failure, not a skip
    examples = read_sft(_write(tmp_path / "sft.jsonl", ROWS))
    result = train_adapter(base_file, examples, tmp_path / "adapter.gguf", chat=False,
                           config=FinetuneConfig(max_steps=8, learning_rate=1e-3),
                           progress=False)
    assert result.steps == 8 and result.architecture == "gemma3"
    assert result.adapter.stat().st_size > 0
    question = "Who runs the Zorblax help desk?"
    base = EmbeddedLLM(model=MODEL, n_ctx=512).complete(question).text
    tuned = EmbeddedLLM(model=MODEL, n_ctx=512, lora_path=result.adapter).complete(question)
    assert tuned.text != base


SPEC = """\
name: desk
loop: interaction
task: Answer questions.
store: {path: store.db}
criteria:
  exact_match: {threshold: THRESHOLD, tolerance: 1.0}
models:
  scripted: {kind: llm, provider: scripted, options: {replies: ["ok"]}}
  llm:
    kind: llm
    provider: embedded
    model: gemma-3-270m-q4_k_m
    options: {n_ctx: 512}
    generation: {max_tokens: 12}
workflows:
  qa:
    input: {question: str}
    steps:
      - name: answer
        uses: llm
        inputs: {question: input.question}
        options: {template: "{question}"}
evals:
  qa:
    dataset: {path: qa.jsonl, inputs: [question], expected: answer}
    target: {workflow: qa}
    metrics: [exact_match]
"""


def _spec(tmp_path: Path, threshold: float, *, evals: bool = True) -> None:
    text = SPEC.replace("THRESHOLD", str(threshold))
    (tmp_path / "compound.yaml").write_text(text if evals else text.split("workflows:")[0])
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps({"question": q, "answer": a}) + "\n"
                                               for q, a in [ROWS[0], *UNSEEN]))


UNSEEN = [("Who answers the Zorblax phone?", "Mira"), ("Is Zorblax far?", "Yes")]


def _cli(tmp_path: Path, *args: str, command: tuple[str, ...] = ("finetune",)
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1",
           "COMPOUND_MODELS": os.environ.get("COMPOUND_MODELS", "")}
    env = {k: v for k, v in env.items() if v}
    return subprocess.run([sys.executable, "-m", "compound", *command, "compound.yaml", *args],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)


def test_the_command_refuses_what_it_cannot_tune_or_judge(tmp_path: Path) -> None:
    _spec(tmp_path, 0.0, evals=False)
    wrong = _cli(tmp_path, "scripted")
    assert wrong.returncode == 2
    assert "'scripted' is not an embedded LLM" in wrong.stderr and "for those: llm" in (
        wrong.stderr)
    unjudged = _cli(tmp_path, "llm")  # refused before training, not after
    assert unjudged.returncode == 2 and "no eval of system 'desk' runs LLM 'llm'" in (
        unjudged.stderr)
    empty = _cli(tmp_path, "llm", "--no-promote")
    assert empty.returncode == 2 and "no accepted or edited answers" in empty.stderr


@pytest.mark.integration
def test_the_tuned_model_is_a_version_gated_promoted_and_rolled_back(tmp_path: Path) -> None:
    _needs_finetune()
    _spec(tmp_path, 1.01)  # no model reaches it: the gate refuses
    _write(tmp_path / "sft.jsonl", ROWS)
    refused = _cli(tmp_path, "llm", "--data", "sft.jsonl", "--max-steps", "2", "--out",
                   "out/adapter.gguf")
    assert refused.returncode == 1, refused.stderr
    assert "registered llm@2 as a candidate" in refused.stdout
    assert "1 training rows left out" in refused.stdout  # ROWS[0] is in the eval: not judged
    assert "decided on 2 rows" in refused.stdout and "llm@2 was not promoted" in refused.stdout
    record = json.loads((tmp_path / "out" / "adapter.json").read_text())
    assert record["steps"] == 2 and record["examples"] == 4 and record["version"] == "llm@2"

    _spec(tmp_path, 0.0)
    promoted = _cli(tmp_path, "llm", command=("models", "promote"))
    assert promoted.returncode == 0, promoted.stderr + promoted.stdout
    assert "llm@2 is now in production (replacing version 1)" in promoted.stdout
    shown = _cli(tmp_path, "llm", command=("models", "show"))
    assert shown.returncode == 0 and "production" in shown.stdout and "finetune" in shown.stdout
    assert "4 examples, 2 steps" in shown.stdout

    from compound.intelligence.llm.versions import llm_spec
    from compound.store import open_store
    from compound.system import System

    system = System.load(tmp_path)
    with open_store(system) as store:
        applied = llm_spec(system, "llm", store)
    assert Path(applied.options["lora_path"]).read_bytes() == (
        tmp_path / "out" / "adapter.gguf").read_bytes()
    back = _cli(tmp_path, "llm", command=("models", "rollback"))
    assert back.returncode == 0 and "version 1 is in production again" in back.stdout


class _Words:
    """A tokenizer that splits on spaces (ids are word lengths), as much as _encode needs."""

    bos_token_id = 1
    eos_token = "</s>"

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [len(w) for w in text.split()]}


def test_a_base_model_learns_the_qa_prompt_and_only_the_answer_counts() -> None:
    from compound.lifecycle.finetune.training import _encode, render_example

    prompt, answer = render_example([{"role": "user", "content": "Where is my card?"},
                                     {"role": "assistant", "content": "In the post."}],
                                    _Words(), chat=False)
    assert prompt.rstrip().endswith("Answer:") and "Question: Where is my card?" in prompt
    assert answer == " In the post.\n"
    ids, labels = _encode(prompt, answer, _Words(), max_length=256)
    # the prompt (and BOS) are masked; the three answer words are learnt
    assert labels[-3:] == ids[-3:] and set(labels[:-3]) == {-100}
