"""JSON from outside (a model's answer, tool-call arguments, ``--input``) that nests too deeply
or holds a number too long for Python is an ordinary, repairable error (issue 14).

``json.loads`` raises ``RecursionError`` or a bare ``ValueError`` for these, which slipped past
handlers written for ``JSONDecodeError``; every parser now goes through
:func:`compound.datafiles.parse_json`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from compound.intelligence.llm.errors import InvalidResponse

HOSTILE = ["[" * 5000 + "]" * 5000, '{"a": ' * 3000 + "1" + "}" * 3000, "9" * 5000,
           '{"answer": ' + "1" * 5000 + "}"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_model_action_that_nests_too_deeply_is_an_invalid_response(text: str) -> None:
    from compound.intelligence.llm.prompting import parse_action

    with pytest.raises(InvalidResponse, match="expected an action as JSON"):
        parse_action(text, [], provider="scripted", model="m")


@pytest.mark.parametrize("text", HOSTILE)
def test_a_structured_output_that_nests_too_deeply_is_an_invalid_response(text: str) -> None:
    from compound.intelligence.llm.base import parse_json_output

    with pytest.raises(InvalidResponse, match="not JSON"):
        parse_json_output(text, {"type": "object"}, provider="scripted", model="m")


@pytest.mark.parametrize("text", HOSTILE)
def test_metrics_and_rails_score_hostile_json_as_not_json(text: str) -> None:
    from compound.metrics.structured import json_valid
    from compound.production.rails.structured import SchemaRail

    assert json_valid(text).value == 0.0
    verdict = SchemaRail(schema={"type": "object"}).run(text)
    assert verdict.action == "block" and "not JSON" in verdict.reason


@pytest.mark.integration
@pytest.mark.parametrize("payload", ["[" * 50_000, '{"question": ' + "9" * 5000 + "}"])
def test_compound_run_with_hostile_input_json_is_a_user_error(payload: str, tmp_path: Path
                                                              ) -> None:
    (tmp_path / "compound.yaml").write_text(
        "name: probe\nloop: interaction\ntask: Answer.\nmodels:\n"
        "  llm: {kind: llm, provider: scripted, options: {replies: [ok]}}\n"
        "workflows:\n  answer:\n    input: {question: str}\n"
        "    steps:\n      - {name: draft, uses: llm, inputs: {question: input.question}}\n")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from compound.cli import main; main()", "run",
         str(tmp_path), "answer", "-i", payload],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "--input is not JSON" in done.stderr
