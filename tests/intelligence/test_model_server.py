"""A real model server behind the ``openai`` provider: `compound serve-model` runs llama.cpp's
OpenAI-compatible server with the embedded default model on 127.0.0.1, and a system whose
LLM is ``provider: openai`` answers through it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from compound.intelligence.llm.model_server import ModelServer

ROOT = Path(__file__).resolve().parents[2]

# The server applies the default model's chat template; the system message keeps the answer to
# a name, the newline stop ends it, and temperature 0 makes it the same each run.
SPEC = """\
name: capitals
loop: interaction
task: Name the capital of a country.
models:
  llm:
    provider: openai
    base_url: {base_url}
    model: qwen2.5-coder-0.5b
    timeout_s: 60
    generation: {{max_tokens: 8, temperature: 0.0, stop: ["\\n"]}}
workflows:
  answer:
    input: {{question: str}}
    output: draft
    steps:
      - name: draft
        uses: llm
        inputs: {{question: input.question}}
        options:
          system: Answer with the name of the city only.
          template: "{{question}}"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`compound serve-model` in its own process; its base URL and its log."""
    port = free_port()
    log = tmp_path_factory.mktemp("model-server") / "server.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "compound", "serve-model", "--port", str(port),
             "--threads", "1", "--n-ctx", "512"], env=env, stdout=out,
            stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve-model exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve-model not ready in 120 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base_url, log
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.mark.integration
def test_a_system_with_provider_openai_answers_through_llamacpp_server(
        model_server: tuple[str, Path], tmp_path: Path) -> None:
    from compound.store import open_store
    from compound.system import System
    from compound.workflow import build_workflow
    from compound.workflow.runs import start

    base_url, log = model_server
    # what the command printed is what the spec needs
    assert f"base_url: {base_url}" in log.read_text() and "provider: openai" in log.read_text()
    (tmp_path / "compound.yaml").write_text(SPEC.format(base_url=base_url))
    system = System.load(tmp_path / "compound.yaml")
    assert system.llms()["llm"].provider == "openai"
    flow = build_workflow(system, "answer")
    with open_store(system) as store:
        result = start(flow, {"question": "What is the capital of France?"}, store=store)
    answer = getattr(result.output, "text", result.output)
    assert "Paris" in str(answer), answer


@pytest.mark.integration
def test_the_server_speaks_the_openai_api_to_the_sdk(model_server: tuple[str, Path]) -> None:
    openai = pytest.importorskip("openai")
    base_url, _ = model_server
    client = openai.OpenAI(base_url=base_url, api_key="not-needed", timeout=60, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["qwen2.5-coder-0.5b"]


def test_spec_lines_name_the_server_and_a_missing_file_says_what_to_give(
        tmp_path: Path) -> None:
    from compound.errors import UserError

    server = ModelServer(host="0.0.0.0", port=9001, alias="mine")
    assert "base_url: http://127.0.0.1:9001/v1" in server.spec_lines()
    assert "model: mine" in server.spec_lines()
    with pytest.raises(UserError, match="no GGUF model file"):
        ModelServer(model_path=tmp_path / "absent.gguf").model_file()


def test_an_embedded_models_name_serves_its_verified_file() -> None:
    from compound.intelligence.llm.embedded import default_model_path

    assert ModelServer(model_path=Path("qwen2.5-coder-0.5b-instruct-q4_k_m")).model_file() == (
        default_model_path())
