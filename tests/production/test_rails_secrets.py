"""Secrets: found in requests and answers, and never in traces or logs."""

from __future__ import annotations

import json
import logging

import pytest

from compound.production.rails import (
    SecretsLogFilter,
    SecretsRail,
    TraceRedactor,
    find_secrets,
    redact_secrets,
)
from compound.workflow.tracing import ListSink, Tracer

# fake credentials in each shape (never real ones)
CASES = [
    ("key sk-proj-" + "Ab1" * 10 + " here", "API_KEY"),
    ("anthropic sk-ant-api03-" + "x9" * 16, "API_KEY"),
    ("aws AKIA" + "ABCDEFGHIJKLMNOP" + " id", "API_KEY"),
    ("google AIza" + "B" * 35, "API_KEY"),
    ("stripe sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "API_KEY"),
    ("hf hf_" + "a" * 34, "API_KEY"),
    ("gh ghp_" + "A1b2" * 9, "TOKEN"),
    ("pat github_pat_" + "11ABCDEFG0" * 3, "TOKEN"),
    ("slack xoxb-1234567890-abcdefghij", "TOKEN"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
     "TOKEN"),
    ("Authorization: Bearer abcdefghijklmnop1234", "TOKEN"),
    ("db postgresql://admin:s3cr3tPassw0rd@db.internal:5432/app", "PASSWORD"),
    ("config password = 'hunter2hunter2'", "SECRET"),
    ("API_KEY=0123456789abcdef0123", "SECRET"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
     "PRIVATE_KEY"),
]


@pytest.mark.parametrize(("text", "label"), CASES, ids=[c[1] + str(i) for i, c in
                                                         enumerate(CASES)])
def test_each_secret_shape_is_found(text: str, label: str) -> None:
    found = find_secrets(text)
    assert [s.label for s in found] == [label]
    redacted = redact_secrets(text)
    assert f"<{label}>" in redacted
    secret = text[found[0].start:found[0].end]
    assert secret not in redacted


@pytest.mark.parametrize("text", [
    "the token economy is growing", "my password is long", "sk-learn is a typo of sklearn",
    "use the API key from your dashboard", "see https://example.com/a:b@c",
])
def test_ordinary_text_is_not_a_secret(text: str) -> None:
    assert find_secrets(text) == []


def test_known_values_are_redacted_whatever_their_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PROVIDER_KEY", "zz-unusual-shape-000111222")
    rail = SecretsRail(known_env=["MY_PROVIDER_KEY"])
    verdict = rail.run("the key is zz-unusual-shape-000111222!")
    assert verdict.action == "redact"
    assert verdict.reason == "found 1 secret (SECRET)"


def test_rail_can_block_instead() -> None:
    verdict = SecretsRail(action="block").run("token ghp_" + "a" * 36)
    assert verdict.action == "block"


def test_tracer_hook_keeps_secrets_out_of_spans() -> None:
    sink = ListSink()
    tracer = Tracer(sink, redact=TraceRedactor(pii=False))
    span = tracer.start("call", "tool", trace_id="1" * 32, attributes={
        "gen_ai.tool.call.arguments": {"query": "use sk-proj-" + "q" * 30,
                                       "api_key": "short1"},
        "compound.output": ["xoxb-1234567890-abcdefghij", 3],
    })
    tracer.end(span)
    assert tracer.flush()
    dump = json.dumps(sink.spans)
    assert "sk-proj-" not in dump and "short1" not in dump and "xoxb-" not in dump
    attributes = sink.spans[0]["attributes"]
    assert attributes["gen_ai.tool.call.arguments"]["api_key"] == "<SECRET>"
    assert attributes["compound.output"] == ["<TOKEN>", 3]


def test_log_filter_redacts_messages_arguments_and_tracebacks(
        caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("compound.test.secrets")
    secret = "sk-ant-api03-" + "k" * 30
    log_filter = SecretsLogFilter()
    caplog.handler.addFilter(log_filter)
    try:
        with caplog.at_level(logging.INFO, logger="compound.test.secrets"):
            logger.info("calling with %s", secret)
            try:
                raise RuntimeError(f"provider refused {secret}")
            except RuntimeError:
                logger.exception("failed")
    finally:  # caplog's handler outlives this test: a filter left on it rewrites later logs
        caplog.handler.removeFilter(log_filter)
    assert secret not in caplog.text
    assert "<API_KEY>" in caplog.text


@pytest.mark.parametrize("text", [
    "password=hunter2 for db; key sk-proj-Q7x9Lm2Pz4Rt8Vb1Nc6Kd3Wy",
    "api_key: abcdefgh12345678 and token=zzzzzzzzzzzz",
    "postgres://admin:s3cretpass@db:5432/app",
])
def test_redacting_twice_changes_nothing(text: str) -> None:
    once = redact_secrets(text)
    assert once != text
    assert redact_secrets(once) == once
