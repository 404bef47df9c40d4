"""The HTTP API in-process: runs, auth and scopes, limits, bad input, errors, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from serving_apps import make_app

from compound.production.serving.keys import ApiKeys
from compound.production.serving_spec import ServeSpec
from compound.store import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def keys(store: MemoryStore) -> dict[str, str]:
    api = ApiKeys(store)
    return {scope: api.create(f"test-{scope}", scope=scope)[0]  # type: ignore[arg-type]
            for scope in ("read", "write", "admin")}


@pytest.fixture
def client(store: MemoryStore) -> Iterator[TestClient]:
    with TestClient(make_app(store, spec=ServeSpec(timeout_s=0.5))) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_workflow_runs_and_answers_json_with_its_run_id(
        client: TestClient, keys: dict[str, str], store: MemoryStore) -> None:
    response = client.post("/v1/workflows/classify", json={"text": "where is my card?"},
                           headers=bearer(keys["write"]))
    assert response.status_code == 200
    body = response.json()
    assert body["output"]["label"] == "card_arrival"
    assert response.headers["X-Compound-Run-Id"] == body["run_id"]
    app_state = client.app.state.compound  # type: ignore[attr-defined]
    assert app_state.runner.record_of(body["run_id"])["status"] == "completed"


def test_the_api_key_may_come_in_the_x_api_key_header(client: TestClient,
                                                      keys: dict[str, str]) -> None:
    response = client.post("/v1/workflows/score", json={"amount": 10.0, "country": "FR"},
                           headers={"X-API-Key": keys["write"]})
    assert response.status_code == 200
    assert response.json()["output"] == {"risk": 0.01, "country": "FR"}


@pytest.mark.parametrize(("headers", "status", "kind"), [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer ck_00000000_wrong"}, 401, "unauthorized"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "unauthorized"),
])
def test_write_endpoints_refuse_missing_or_wrong_keys(client: TestClient, headers: dict[str, str],
                                                      status: int, kind: str) -> None:
    response = client.post("/v1/workflows/classify", json={"text": "hi"}, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind
    assert "compound keys create" in response.json()["error"]["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_scopes_nest_read_cannot_write_and_write_cannot_admin(client: TestClient,
                                                               keys: dict[str, str]) -> None:
    denied = client.post("/v1/workflows/classify", json={"text": "hi"},
                         headers=bearer(keys["read"]))
    assert denied.status_code == 403
    assert "needs 'write'" in denied.json()["error"]["message"]
    assert client.get("/v1/runs", headers=bearer(keys["read"])).status_code == 200
    assert client.get("/v1/keys", headers=bearer(keys["write"])).status_code == 403
    assert client.get("/v1/keys", headers=bearer(keys["admin"])).status_code == 200


def test_a_revoked_key_stops_working_at_once(client: TestClient, keys: dict[str, str]) -> None:
    created = client.post("/v1/keys", json={"name": "temp", "scope": "write"},
                          headers=bearer(keys["admin"]))
    assert created.status_code == 201
    secret, key_id = created.json()["key"], created.json()["key_id"]
    assert client.post("/v1/workflows/classify", json={"text": "a"},
                       headers=bearer(secret)).status_code == 200
    assert client.delete(f"/v1/keys/{key_id}", headers=bearer(keys["admin"])).status_code == 204
    assert client.post("/v1/workflows/classify", json={"text": "a"},
                       headers=bearer(secret)).status_code == 401
    listed = client.get("/v1/keys", headers=bearer(keys["admin"])).json()
    assert all("hash" not in k and "key" not in k for k in listed)
    assert {k["key_id"]: k["revoked"] is not None for k in listed}[key_id]


def test_keys_are_stored_only_as_hashes(store: MemoryStore) -> None:
    secret, info = ApiKeys(store).create("ci", scope="read")
    stored = store.get("api_keys", info.key_id)
    assert secret not in str(stored)
    assert stored["hash"] != secret and len(stored["hash"]) == 64


@pytest.mark.parametrize(("body", "status", "kind", "says"), [
    (b'{"text": "unterminated', 400, "malformed_json", "not valid JSON"),
    (b'{"text": 42}', 422, "invalid_input", "text: Input should be a valid string"),
    (b'{"txt": "typo"}', 422, "invalid_input", "txt: Extra inputs are not permitted"),
    (b'[1, 2]', 422, "invalid_input", "received [1, 2]"),
    (b'{}', 422, "invalid_input", "text: required, but missing"),
])
def test_bad_input_gets_a_4xx_that_says_what_was_wrong(
        client: TestClient, keys: dict[str, str], body: bytes, status: int, kind: str,
        says: str) -> None:
    response = client.post("/v1/workflows/classify", content=body,
                           headers={**bearer(keys["write"]), "Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == kind
    assert any(says in problem for problem in error["problems"]), error


def test_an_oversized_body_is_refused_with_413_before_it_is_read(store: MemoryStore,
                                                                 keys: dict[str, str]) -> None:
    app = make_app(store, spec=ServeSpec(max_body_bytes=1000))
    with TestClient(app) as client:
        big = {"text": "x" * 5000}
        response = client.post("/v1/workflows/classify", json=big, headers=bearer(keys["write"]))
        assert response.status_code == 413
        assert "limit of 1000 bytes" in response.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"text": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = client.post("/v1/workflows/classify", content=chunks(),
                               headers={**bearer(keys["write"]),
                                        "Content-Type": "application/json"})
        assert streamed.status_code == 413
        small = client.post("/v1/workflows/classify", json={"text": "ok"},
                            headers=bearer(keys["write"]))
        assert small.status_code == 200


def test_unknown_workflow_and_route_are_404_with_a_hint(client: TestClient,
                                                        keys: dict[str, str]) -> None:
    response = client.post("/v1/workflows/nope", json={}, headers=bearer(keys["write"]))
    assert response.status_code == 404
    assert "GET /v1/workflows" in response.json()["error"]["message"]
    assert client.get("/v2/whatever").status_code == 404


def test_a_run_past_the_timeout_is_cancelled_with_504(client: TestClient,
                                                      keys: dict[str, str]) -> None:
    response = client.post("/v1/workflows/slow", json={"text": "zzz"},
                           headers=bearer(keys["write"]))
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["type"] == "timeout" and "serve.timeout_s" in error["message"]
    record = client.app.state.compound.runner.record_of(error["run_id"])  # type: ignore[attr-defined]
    assert record["status"] == "failed"


def test_a_failing_step_is_a_500_naming_the_run(client: TestClient,
                                                keys: dict[str, str]) -> None:
    response = client.post("/v1/workflows/broken", json={"text": "boom"},
                           headers=bearer(keys["write"]))
    assert response.status_code == 500
    error = response.json()["error"]
    # the step's text (here it quotes the input) stays in the server log, under the id
    assert error["type"] == "run_failed" and "boom" not in response.text
    assert error["id"].startswith("err_") and error["id"] in error["message"]
    assert "step 'broken' raised ValueError" in error["message"]
    assert len(error["run_id"]) == 32
    assert client.get("/healthz").json() == {"status": "ok"}


def test_rate_limit_answers_429_with_retry_after(store: MemoryStore,
                                                 keys: dict[str, str]) -> None:
    spec = ServeSpec(rate_limit={"requests_per_s": 0.5, "burst": 3})
    with TestClient(make_app(store, spec=spec)) as client:
        codes = [client.post("/v1/workflows/classify", json={"text": "a"},
                             headers=bearer(keys["write"])).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.post("/v1/workflows/classify", json={"text": "a"},
                              headers=bearer(keys["write"]))
        assert int(limited.headers["Retry-After"]) >= 1
        other = client.post("/v1/workflows/classify", json={"text": "a"},
                            headers=bearer(keys["admin"]))
        assert other.status_code == 200  # the limit is per key


def test_health_readiness_and_the_local_no_auth_mode(store: MemoryStore) -> None:
    with TestClient(make_app(store, spec=ServeSpec(auth=False))) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        for _ in range(50):
            if ready.status_code == 200:
                break
            ready = client.get("/readyz")
        assert ready.json() == {"status": "ready", "waiting_for": []}
        assert client.post("/v1/workflows/classify", json={"text": "a"}).status_code == 200


def test_the_openapi_document_is_valid_and_describes_each_workflow(client: TestClient) -> None:
    validator = pytest.importorskip("openapi_spec_validator",
                                    reason="pip install openapi-spec-validator (dev extra)")
    doc = client.get("/openapi.json").json()
    validator.validate(doc)
    run = doc["paths"]["/v1/workflows/score"]["post"]
    schema_ref = run["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert schema["properties"]["amount"]["type"] == "number"
    assert set(schema["required"]) == {"amount", "country"}
    assert {"401", "413", "422", "429"} <= set(run["responses"])
    assert "text/event-stream" in doc["paths"]["/v1/workflows/answer/stream"]["post"][
        "responses"]["200"]["content"]
    assert {"bearer", "apiKey"} <= set(doc["components"]["securitySchemes"])
    feedback = doc["paths"]["/v1/feedback"]["post"]
    assert "201" in feedback["responses"] and "404" in feedback["responses"]


def test_listing_workflows_shows_their_input_schemas(client: TestClient,
                                                     keys: dict[str, str]) -> None:
    listed = {w["name"]: w for w in client.get("/v1/workflows",
                                               headers=bearer(keys["read"])).json()}
    assert set(listed) == {"classify", "answer", "score", "slow", "broken"}
    assert listed["classify"]["input_schema"]["required"] == ["text"]
    assert listed["classify"]["stream"] == "/v1/workflows/classify/stream"
