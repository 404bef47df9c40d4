"""Errors carry an id, not internal text: the recognisers behind it, the typed error, the
spec setting, and the catch-all handler of the served app."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from privacy_payloads import API_KEY, EMAIL, PASSWORD

from compound.errors import SpecError, UserError
from compound.privacy import Redactor, error_ref, error_text, find_secrets
from compound.production.rails import SecretsRail
from compound.production.serving.errors import install_handlers
from compound.store import MemoryStore, RedactingStore
from compound.system import System


@pytest.mark.parametrize("text", [f"password={PASSWORD} for db", f"PASSWORD: {PASSWORD}",
                                  f"pwd='{PASSWORD}'", "passwd=x"])
def test_a_password_is_a_secret_however_short(text: str) -> None:
    assert [s.label for s in find_secrets(text)] == ["PASSWORD"]
    assert SecretsRail().run(text).action == "redact"


def test_one_failure_keeps_one_id_and_its_detail_is_logged_once_redacted(
        caplog: pytest.LogCaptureFixture) -> None:
    cause = RuntimeError(f"password={PASSWORD} for db; key {API_KEY}")
    try:
        raise ValueError("wrapped") from cause
    except ValueError as exc:
        outer = exc
    with caplog.at_level(logging.WARNING, logger="compound.errors"):
        inner_ref, outer_ref = error_ref(cause), error_ref(outer)
        again = error_ref(outer)
    assert inner_ref.id == outer_ref.id == again.id
    assert str(outer_ref) == f"ValueError ({outer_ref.id})"
    assert len(caplog.records) == 1 and outer_ref.id in caplog.text
    assert PASSWORD not in caplog.text and API_KEY not in caplog.text
    assert "<PASSWORD>" in caplog.text and "<API_KEY>" in caplog.text


def test_a_user_error_keeps_its_message_and_a_string_is_kept_as_given() -> None:
    assert error_text(UserError("field 'x' is missing")) == "UserError: field 'x' is missing"
    assert error_text("tool 'lookup' failed") == "tool 'lookup' failed"


def test_redaction_is_on_by_default_and_the_spec_can_narrow_or_stop_it() -> None:
    def store_of(section: str) -> object:
        system = System.from_yaml(f"name: s\nloop: interaction\ntask: t\n{section}")
        return RedactingStore.from_spec(MemoryStore(), system.store.redact)

    assert isinstance(store_of(""), RedactingStore)
    assert isinstance(store_of("store: {redact: false}\n"), MemoryStore)
    secrets_only = store_of("store: {redact: {pii: false}}\n")
    secrets_only.put("runs", "r", {"q": f"{EMAIL} {API_KEY}"})  # type: ignore[attr-defined]
    assert secrets_only.get("runs", "r") == {"q": f"{EMAIL} <API_KEY>"}  # type: ignore[attr-defined]
    kept = store_of("store: {redact: {keep_raw: [session]}}\n")
    kept.append("session:u1", {"content": EMAIL})  # type: ignore[attr-defined]
    assert next(kept.read("session:u1")).data == {"content": EMAIL}  # type: ignore[attr-defined]


def test_an_unknown_entity_in_the_spec_is_an_error_naming_the_line() -> None:
    with pytest.raises(SpecError, match=r":5:.*unknown personal data type 'PASSPORT'"):
        System.from_yaml("name: s\nloop: interaction\ntask: t\nstore:\n"
                         "  redact: {entities: [PASSPORT]}\n")


def test_known_environment_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plainvalue-of-unknown-shape")
    assert Redactor().value("key plainvalue-of-unknown-shape") == "key <SECRET>"


def test_an_unexpected_error_answers_500_with_an_id_and_no_text(
        caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    install_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"password={PASSWORD} for db")

    with caplog.at_level(logging.WARNING), TestClient(app, raise_server_exceptions=False
                                                      ) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "internal" and error["id"].startswith("err_")
    assert PASSWORD not in response.text and error["id"] in error["message"]
    assert error["id"] in caplog.text and PASSWORD not in caplog.text


def _luhn_completed(digits: str) -> str:
    from compound.privacy.recognizers import luhn_valid

    return next(digits + d for d in "0123456789" if luhn_valid(digits + d))


@settings(max_examples=60, deadline=None)
@given(prefix=st.sampled_from(["4", "51", "37", "6011"]),
       body=st.text(alphabet="0123456789", min_size=11, max_size=11),
       separator=st.sampled_from(["", " ", "-"]),
       before=st.text(alphabet=st.characters(categories=["L", "Zs", "P"]), max_size=40),
       after=st.text(alphabet=st.characters(categories=["L", "Zs", "P"]), max_size=40))
def test_a_card_number_in_any_text_never_survives_the_store(
        prefix: str, body: str, separator: str, before: str, after: str) -> None:
    number = _luhn_completed((prefix + body)[:15])
    shown = separator.join(number[i:i + 4] for i in range(0, 16, 4))
    store = RedactingStore(MemoryStore())
    store.put("runs", "r", {"input": {"q": f"{before} {shown} {after}"}})
    kept = store.get("runs", "r")["input"]["q"]
    assert number not in kept.replace(" ", "").replace("-", "")
    assert "<CREDIT_CARD>" in kept


def test_a_read_key_gets_no_raw_inputs_even_from_a_store_that_keeps_them() -> None:
    from compound.privacy.spec import RedactionSpec
    from compound.production.serving import create_app
    from compound.strategy.review import ReviewQueue
    from compound.workflow import Workflow
    from compound.workflow.state import RUNS

    def echo(question: str) -> str:
        return question

    store = MemoryStore()
    app = create_app({"echo": Workflow([echo], name="echo")}, store=store,
                     redaction=RedactionSpec(enabled=False))
    keys = app.state.compound.keys
    read, _ = keys.create("dashboard", scope="read")
    write, _ = keys.create("client", scope="write")
    question = f"card 4111 1111 1111 1111, mail {EMAIL}"
    store.put(RUNS, "ab" * 16, {"workflow": "echo", "input": {"question": question}})
    ReviewQueue(store).submit(question, reason="below_threshold")
    with TestClient(app) as client:
        def fetch(key: str) -> str:
            return "".join(client.get(path, headers={"Authorization": f"Bearer {key}"}).text
                           for path in (f"/v1/runs/{'ab' * 16}", "/v1/review"))

        as_reader, as_writer = fetch(read), fetch(write)
    assert EMAIL not in as_reader and "4111 1111" not in as_reader
    assert "<EMAIL_ADDRESS>" in as_reader and "<CREDIT_CARD>" in as_reader
    assert EMAIL in as_writer  # the store kept it raw, as this system asked


def test_the_public_readiness_check_never_quotes_a_secret() -> None:
    import time

    from compound.intelligence.llm import ScriptedLLM
    from compound.production.serving import create_app

    class BrokenLLM(ScriptedLLM):
        def load(self) -> None:
            raise RuntimeError(f"401 from the provider for key {API_KEY}")

    app = create_app({}, store=MemoryStore(), llms={"remote": BrokenLLM(["-"])})
    with TestClient(app) as client:
        deadline = time.time() + 30
        body = client.get("/readyz").json()
        while "failed to load" not in str(body) and time.time() < deadline:
            time.sleep(0.1)
            body = client.get("/readyz").json()
    assert "failed to load" in str(body) and "<API_KEY>" in str(body)
    assert API_KEY not in str(body)


@pytest.mark.parametrize("serving", [False, True])
def test_the_detail_goes_to_the_server_log_and_never_to_a_cli_users_terminal(
        serving: bool) -> None:
    import subprocess
    import sys

    code = ("from compound.privacy.errors import error_ref, log_errors_to\n"
            + ("log_errors_to()\n" if serving else "")
            + "try:\n"
            + f"    raise RuntimeError('password={PASSWORD} for db')\n"
            + "except RuntimeError as exc:\n"
            + "    print(error_ref(exc).id)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    error_id = done.stdout.strip()
    if serving:  # `compound serve` calls log_errors_to(): stderr is the server log
        assert error_id in done.stderr and "<PASSWORD>" in done.stderr
        assert "Traceback" in done.stderr and PASSWORD not in done.stderr
    else:
        assert done.stderr == ""
