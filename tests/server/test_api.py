"""The REST API through a real server on loopback: every endpoint, and bad input for each.

Each bad request gets its status and a message naming the problem, and leaves the store
as it was: the tests count the user's memories before and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import KEYS, Service, run_cli, start_service, stop_service

MEMORY_ID = "0123456789abcdef0123456789abcdef"

#: Every /v1 endpoint: method, path, a valid body.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/users/alice/memories", {"content": "x"}),
    ("POST", "/v1/users/alice/memories/batch", {"memories": [{"content": "x"}]}),
    ("GET", "/v1/users/alice/memories", None),
    ("GET", f"/v1/users/alice/memories/{MEMORY_ID}", None),
    ("PATCH", f"/v1/users/alice/memories/{MEMORY_ID}", {"content": "y"}),
    ("DELETE", f"/v1/users/alice/memories/{MEMORY_ID}", None),
    ("GET", f"/v1/users/alice/memories/{MEMORY_ID}/history", None),
    ("POST", "/v1/users/alice/search", {"query": "x"}),
    ("POST", "/v1/users/alice/context", {"message": "x"}),
    ("GET", "/v1/users/alice/resume", None),
    ("POST", "/v1/users/alice/messages", {"conversation_id": "c", "messages": []}),
    ("POST", "/v1/users/alice/exchanges", {"conversation_id": "c", "user_message": "x"}),
    ("GET", "/v1/users", None),
    ("GET", "/v1/users/alice/summary", None),
    ("GET", "/v1/users/alice/export", None),
    ("DELETE", "/v1/users/alice", None),
]
BODY_ENDPOINTS = [(m, p, b) for m, p, b in ENDPOINTS if b is not None]


def error(response: httpx.Response, status: int) -> str:
    """The message of an error answer, after checking its status and shape."""
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


def count(service: Service, user: str, key: str = "acme") -> int:
    """How many memories the user has (0 for a user the tenant does not have)."""
    with service.client(key) as client:
        response = client.get(f"/v1/users/{user}/memories", params={"limit": 1})
    if response.status_code == 404:
        return 0
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


@pytest.fixture(scope="module")
def acme(service: Service) -> httpx.Client:
    with service.client("acme") as client:
        yield client


# -- health, schema, keys ----------------------------------------------------------------


def test_health_and_readiness_need_no_key(service: Service) -> None:
    with service.client() as client:
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/readyz").json() == {"status": "ready"}


def test_openapi_schema_lists_every_endpoint(service: Service) -> None:
    with service.client() as client:
        schema = client.get("/openapi.json").json()
    paths = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    for method, path, _ in ENDPOINTS:
        templated = path.replace("/alice", "/{user_id}").replace(MEMORY_ID, "{memory_id}")
        assert (method, templated) in paths


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_refuses_a_request_without_a_valid_key(
    service: Service, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = count(service, "alice")
    with service.client() as client:
        missing = client.request(method, path, json=body)
        assert "needs an API key" in error(missing, 401)
        assert missing.headers["www-authenticate"] == "Bearer"
        forged = "ms_0123456789abcdef_" + "A" * 43
        unknown = client.request(method, path, json=body, headers={"X-API-Key": forged})
        assert "unknown API key" in error(unknown, 401)
        scheme = client.request(method, path, json=body, headers={"Authorization": "Basic x"})
        assert "Bearer" in error(scheme, 401)
    assert count(service, "alice") == before


def test_a_revoked_key_is_refused_by_the_next_request_without_a_key_cache(
    tmp_path: Path,
) -> None:
    # The shared server trusts a verified key for 1 s (tests/server/test_key_cache.py
    # moves that clock by hand); with --key-cache-seconds 0 every request reads the table.
    uncached = start_service(
        tmp_path / "store", "--no-embed", "--key-cache-seconds", "0", keys=KEYS
    )
    try:
        with uncached.client("acme_revoked") as client:
            created = client.post("/v1/users/carol/memories", json={"content": "first"})
            assert created.status_code == 201, created.text
            revoked = run_cli(
                "--store", uncached.store, "keys", "revoke", uncached.key_ids["acme_revoked"]
            )
            assert revoked.returncode == 0, revoked.stderr
            refused = client.post("/v1/users/carol/memories", json={"content": "second"})
            assert "was revoked" in error(refused, 401)
            assert "was revoked" in error(client.get("/v1/users/carol/memories"), 401)
        assert count(uncached, "carol") == 1
    finally:
        stop_service(uncached)
    listed = run_cli("--store", uncached.store, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "secret" not in listed.stdout and uncached.keys["acme"] not in listed.stdout


# -- memories ----------------------------------------------------------------------------


def test_store_get_update_search_and_delete_a_memory(acme: httpx.Client) -> None:
    made = acme.post(
        "/v1/users/dora/memories",
        json={"content": "I am allergic to peanuts", "kind": "fact", "metadata": {"src": "t"}},
    )
    assert made.status_code == 201, made.text
    memory = made.json()
    assert memory["user_id"] == "dora" and memory["metadata"] == {"src": "t"}
    assert acme.get(f"/v1/users/dora/memories/{memory['id']}").json() == memory

    hits = acme.post("/v1/users/dora/search", json={"query": "food allergy", "k": 3}).json()
    [hit] = hits["hits"]
    assert hit["memory"]["id"] == memory["id"] and hit["memory"]["user_id"] == "dora"
    assert hit["scores"]["final_score"] > 0 and hit["scores"]["vector_rank"] == 1

    changed = acme.patch(
        f"/v1/users/dora/memories/{memory['id']}", json={"content": "Allergic to cashews"}
    )
    assert changed.status_code == 200 and changed.json()["content"] == "Allergic to cashews"
    history = acme.get(f"/v1/users/dora/memories/{memory['id']}/history").json()
    assert history["memory"]["content"] == "Allergic to cashews"

    assert acme.delete(f"/v1/users/dora/memories/{memory['id']}").status_code == 204
    gone = acme.get(f"/v1/users/dora/memories/{memory['id']}")
    assert error(gone, 404) == f"user 'dora' has no memory {memory['id']}"
    assert "acme:" not in gone.text


def test_a_batch_is_stored_whole_or_not_at_all(service: Service, acme: httpx.Client) -> None:
    stored = acme.post(
        "/v1/users/erin/memories/batch",
        json={"memories": [{"content": "likes tea"}, {"content": "lives in Porto"}]},
    )
    assert stored.status_code == 201 and len(stored.json()["memories"]) == 2
    bad = acme.post(
        "/v1/users/erin/memories/batch",
        json={"memories": [{"content": "ok"}, {"content": "   "}]},
    )
    assert "memory content is empty" in error(bad, 400)
    assert count(service, "erin") == 2
    empty = acme.post("/v1/users/erin/memories/batch", json={"memories": []})
    assert "memories is empty" in error(empty, 400)


def test_a_memory_id_in_use_is_a_conflict(service: Service, acme: httpx.Client) -> None:
    body = {"content": "first", "id": "a" * 32}
    assert acme.post("/v1/users/finn/memories", json=body).status_code == 201
    clash = acme.post("/v1/users/finn/memories", json={"content": "second", "id": "a" * 32})
    assert "already has memories" in error(clash, 409)
    batch = acme.post("/v1/users/finn/memories/batch", json={"memories": [body]})
    error(batch, 409)
    skipped = acme.post(
        "/v1/users/finn/memories/batch", json={"memories": [body], "skip_existing": True}
    )
    assert skipped.status_code == 201 and skipped.json()["memories"] == []
    assert acme.get(f"/v1/users/finn/memories/{'a' * 32}").json()["content"] == "first"
    assert count(service, "finn") == 1


def test_list_pages_and_filters(acme: httpx.Client) -> None:
    for number in range(5):
        kind = "preference" if number % 2 else "fact"
        acme.post("/v1/users/gus/memories", json={"content": f"note {number}", "kind": kind})
    page = acme.get("/v1/users/gus/memories", params={"limit": 2, "offset": 1}).json()
    assert [m["content"] for m in page["memories"]] == ["note 3", "note 2"]
    assert page["total"] == 5
    prefs = acme.get("/v1/users/gus/memories", params={"kind": "preference"}).json()
    assert [m["content"] for m in prefs["memories"]] == ["note 3", "note 1"]
    assert prefs["total"] == 2
    bad = acme.get("/v1/users/gus/memories", params={"limit": "many"})
    assert "limit" in error(bad, 400)
    bad_limit = acme.get("/v1/users/gus/memories", params={"limit": 0})
    assert "limit" in error(bad_limit, 400)


# -- bad input, for every endpoint that takes a body -------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), BODY_ENDPOINTS)
def test_malformed_json_is_refused_and_nothing_is_stored(
    service: Service, acme: httpx.Client, method: str, path: str, body: dict[str, Any]
) -> None:
    before = count(service, "alice")
    sent = acme.request(
        method, path, content=b'{"content": "x",', headers={"Content-Type": "application/json"}
    )
    assert "not valid JSON" in error(sent, 400)
    assert count(service, "alice") == before


@pytest.mark.parametrize(("method", "path", "body"), BODY_ENDPOINTS)
def test_wrong_types_and_unknown_fields_are_refused(
    service: Service, acme: httpx.Client, method: str, path: str, body: dict[str, Any]
) -> None:
    before = count(service, "alice")
    field = next(iter(body))
    wrong = acme.request(method, path, json={**body, field: 12345})
    assert field in error(wrong, 400)
    unknown = acme.request(method, path, json={**body, "contnet": "typo"})
    assert "contnet is not a known field" in error(unknown, 400)
    not_an_object = acme.request(method, path, json=["x"])
    error(not_an_object, 400)
    assert count(service, "alice") == before


@pytest.mark.parametrize(("method", "path", "body"), BODY_ENDPOINTS)
def test_oversized_bodies_are_refused(
    service: Service, acme: httpx.Client, method: str, path: str, body: dict[str, Any]
) -> None:
    before = count(service, "alice")
    huge = b'{"content": "' + b"x" * 1_100_000 + b'"}'
    declared = acme.request(
        method, path, content=huge, headers={"Content-Type": "application/json"}
    )
    assert "over the limit of 1000000 bytes" in error(declared, 413)

    def chunks() -> Any:
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    streamed = acme.request(
        method, path, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "over the limit" in error(streamed, 413)
    assert count(service, "alice") == before


def test_bad_values_get_the_library_s_message(service: Service, acme: httpx.Client) -> None:
    acme.post("/v1/users/hana/memories", json={"content": "exists"})
    before = count(service, "hana")
    cases = [
        ("POST", "/v1/users/hana/memories", {"content": "x", "kind": "Not A Kind"}, "kind"),
        ("POST", "/v1/users/hana/memories", {"content": "x", "id": "short"}, "memory id"),
        (
            "POST",
            "/v1/users/hana/memories",
            {"content": "x", "created_at": "yesterday"},
            "created_at",
        ),
        ("POST", "/v1/users/hana/memories", {"content": "x" * 40_000}, "over the limit of 32000"),
        ("POST", "/v1/users/hana/search", {"query": "  "}, "query must be a non-empty string"),
        ("POST", "/v1/users/hana/search", {"query": "x", "k": 0}, "k must be"),
        ("POST", "/v1/users/hana/search", {"query": "x", "as_of": "last tuesday"}, "as_of"),
        ("GET", "/v1/users/hana/memories/not-an-id", None, "malformed memory id"),
        ("PATCH", f"/v1/users/hana/memories/{MEMORY_ID}", {"content": ""}, "empty"),
        (
            "POST",
            "/v1/users/hana/messages",
            {"conversation_id": "c", "messages": [{"role": "robot", "content": "x"}]},
            "role",
        ),
    ]
    for method, path, body, expected in cases:
        response = acme.request(method, path, json=body)
        assert expected in error(response, 400), (path, body)
    assert count(service, "hana") == before


def test_unknown_users_and_memories_are_not_found(acme: httpx.Client) -> None:
    for method, path, body in [
        ("GET", "/v1/users/nobody/memories", None),
        ("POST", "/v1/users/nobody/search", {"query": "x"}),
        ("GET", "/v1/users/nobody/summary", None),
        ("GET", "/v1/users/nobody/export", None),
        ("DELETE", "/v1/users/nobody", None),
        ("GET", f"/v1/users/nobody/memories/{MEMORY_ID}", None),
        ("DELETE", f"/v1/users/nobody/memories/{MEMORY_ID}", None),
        ("PATCH", f"/v1/users/nobody/memories/{MEMORY_ID}", {"content": "y"}),
    ]:
        message = error(acme.request(method, path, json=body), 404)
        assert "'nobody'" in message and "acme" not in message
    missing = acme.get("/v1/nowhere")
    assert "no such endpoint" in error(missing, 404)


# -- tenancy and key scopes ----------------------------------------------------------------


def test_a_key_of_another_tenant_never_reaches_the_tenant_s_users(
    service: Service, acme: httpx.Client
) -> None:
    secret = acme.post("/v1/users/ivan/memories", json={"content": "acme secret: the vault code"})
    memory_id = secret.json()["id"]
    with service.client("globex") as globex:
        assert "unknown user 'ivan'" in error(globex.get("/v1/users/ivan/memories"), 404)
        search = globex.post("/v1/users/ivan/search", json={"query": "vault code"})
        error(search, 404)
        error(globex.get(f"/v1/users/ivan/memories/{memory_id}"), 404)
        error(globex.delete(f"/v1/users/ivan/memories/{memory_id}"), 404)
        error(globex.patch(f"/v1/users/ivan/memories/{memory_id}", json={"content": "x"}), 404)
        error(globex.get("/v1/users/ivan/export"), 404)
        error(globex.delete("/v1/users/ivan"), 404)
        # The same user id in globex is another user.
        own = globex.post("/v1/users/ivan/memories", json={"content": "globex note on vaults"})
        assert own.status_code == 201
        found = globex.post("/v1/users/ivan/search", json={"query": "vault code", "k": 10}).json()
        assert [hit["memory"]["content"] for hit in found["hits"]] == ["globex note on vaults"]
        assert "ivan" in globex.get("/v1/users").json()["users"]
    mine = acme.post("/v1/users/ivan/search", json={"query": "vault", "k": 10}).json()
    assert [hit["memory"]["id"] for hit in mine["hits"]] == [memory_id]
    assert acme.get(f"/v1/users/ivan/memories/{memory_id}").status_code == 200


def test_read_only_and_user_bound_keys(service: Service, acme: httpx.Client) -> None:
    acme.post("/v1/users/alice/memories", json={"content": "alice likes jazz"})
    acme.post("/v1/users/bob/memories", json={"content": "bob likes rock"})
    before = count(service, "alice"), count(service, "bob")
    with service.client("acme_read") as reader:
        assert reader.post("/v1/users/alice/search", json={"query": "jazz"}).status_code == 200
        refused = reader.post("/v1/users/alice/memories", json={"content": "x"})
        assert "read-only" in error(refused, 403)
        error(reader.delete("/v1/users/alice"), 403)
    with service.client("acme_alice") as bound:
        assert bound.get("/v1/users/alice/memories").status_code == 200
        assert bound.post("/v1/users/alice/memories", json={"content": "more"}).status_code == 201
        assert "may not reach user 'bob'" in error(bound.get("/v1/users/bob/memories"), 403)
        error(bound.post("/v1/users/bob/memories", json={"content": "x"}), 403)
        assert "all of the tenant's users" in error(bound.get("/v1/users"), 403)
    assert (count(service, "alice"), count(service, "bob")) == (before[0] + 1, before[1])


def test_user_ids_too_long_for_the_tenant_are_refused(acme: httpx.Client) -> None:
    response = acme.post(f"/v1/users/{'u' * 252}/memories", json={"content": "x"})
    assert "over the service's limit" in error(response, 400)


# -- conversations, summary, context, export, delete -----------------------------------------


def test_a_user_s_story_through_the_api(acme: httpx.Client) -> None:
    turn = acme.post(
        "/v1/users/jade/exchanges",
        json={
            "conversation_id": "trip",
            "user_message": "I prefer window seats. I need to renew my passport by Friday.",
            "assistant_message": "Noted. I will remind you to renew the passport.",
        },
    )
    assert turn.status_code == 201, turn.text
    assert turn.json()["memories"], "the exchange should keep a memory"
    appended = acme.post(
        "/v1/users/jade/messages",
        json={"conversation_id": "trip", "messages": [{"role": "user", "content": "thanks"}]},
    )
    assert appended.status_code == 201 and appended.json()["messages"][0]["content"] == "thanks"

    summary = acme.get("/v1/users/jade/summary").json()
    assert summary["user_id"] == "jade"
    assert summary["counts"]["memories"] == len(turn.json()["memories"])
    assert summary["counts"]["conversations"] == 1 and summary["counts"]["messages"] == 3
    assert summary["recent_conversations"][0]["conversation_id"] == "trip"

    context = acme.post(
        "/v1/users/jade/context",
        json={"message": "which seat do I like?", "conversation_id": "trip"},
    ).json()
    # The prompt before the new message: memories and the conversation so far.
    assert context["messages"][-1] == {"role": "user", "content": "thanks"}
    assert context["tokens"] > 0
    assert any("window" in m["content"] for m in context["messages"])
    resumed = acme.get("/v1/users/jade/resume", params={"conversation_id": "trip"}).json()
    assert resumed["mode"] in {"continue", "recap", "fresh_start"}

    exported = acme.get("/v1/users/jade/export").json()
    assert exported["user_id"] == "jade"
    assert {m["user_id"] for m in exported["memories"]} == {"jade"}
    assert exported["conversations"][0]["conversation_id"] == "trip"
    assert "acme:" not in str(exported)

    receipt = acme.delete("/v1/users/jade")
    assert receipt.status_code == 200, receipt.text
    body = receipt.json()
    assert body["counts"]["sql_memories"] == len(exported["memories"])
    assert body["counts"]["sql_messages"] == 3 and body["counts"]["sql_conversations"] == 1
    assert len(body["receipt_hash"]) == 64 and "jade" not in receipt.text
    assert "window" not in receipt.text
    error(acme.get("/v1/users/jade/summary"), 404)
    error(acme.get("/v1/users/jade/export"), 404)
    assert "jade" not in acme.get("/v1/users").json()["users"]


def test_a_changed_fact_shows_its_history_and_as_of_through_the_api(acme: httpx.Client) -> None:
    porto = acme.post(
        "/v1/users/lena/memories",
        json={"content": "I live in Porto", "created_at": "2026-01-01T00:00:00Z"},
    ).json()
    lisbon = acme.post(
        "/v1/users/lena/memories",
        json={"content": "I moved to Lisbon", "created_at": "2026-03-01T00:00:00Z"},
    ).json()

    history = acme.get(f"/v1/users/lena/memories/{porto['id']}/history").json()
    assert history["lifecycle"] is True
    assert [version["id"] for version in history["versions"]] == [porto["id"], lisbon["id"]]

    def found(**options: object) -> list[str]:
        body = {"query": "where do I live?", "k": 5, **options}
        return [
            hit["memory"]["id"]
            for hit in acme.post("/v1/users/lena/search", json=body).json()["hits"]
        ]

    assert porto["id"] not in found() and lisbon["id"] in found()
    assert porto["id"] in found(include_superseded=True)
    then = found(as_of="2026-02-01T00:00:00Z")
    assert porto["id"] in then and lisbon["id"] not in then
