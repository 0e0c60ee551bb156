"""The verified-key cache: revocation within its time, no refusal kept, no key kept.

The server trusts a key it verified for ``cache_seconds`` without reading the
``api_keys`` table again. These tests run the service's app under uvicorn on loopback,
in this process, with a key store whose clock is a fake the test moves, so "within the
cache's time" and "after it" are steps of the test, never waits. A revocation from
another process is made by the real ``multisession keys revoke`` command.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from multisession import MemoryEngine
from multisession.errors import ConfigurationError
from multisession.server.app import create_app
from multisession.server.key_cache import MAX_TTL, KeyCache
from multisession.server.keys import KeyStore

from .conftest import run_cli

TTL = 1.0


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class InProcessService:
    url: str
    store: Path
    engine: MemoryEngine
    keys: KeyStore
    clock: FakeClock
    tokens: dict[str, str]
    key_ids: dict[str, str]

    def client(self, name: str | None = None, token: str | None = None) -> httpx.Client:
        secret = token if token is not None else self.tokens[name] if name else None
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[InProcessService]:
    """The service's app under uvicorn on loopback, its key store on a fake clock."""
    store = tmp_path / "store"
    clock = FakeClock()
    engine = MemoryEngine(store, embedder=None)
    keys = KeyStore(f"sqlite:///{store / 'memory.db'}", cache_seconds=TTL, clock=clock)
    made = {
        "acme": keys.create("acme"),
        "globex": keys.create("globex"),
        "acme_alice": keys.create("acme", users=["alice"]),
    }
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine, keys), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield InProcessService(
            url=f"http://127.0.0.1:{port}",
            store=store,
            engine=engine,
            keys=keys,
            clock=clock,
            tokens={name: new.token for name, new in made.items()},
            key_ids={name: new.key.key_id for name, new in made.items()},
        )
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        keys.close()
        engine.close()


def _message(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["message"])


def _contents(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["memory"]["content"] for hit in response.json()["hits"]]


# -- revocation --------------------------------------------------------------------------


def test_a_key_revoked_by_another_process_stops_working_when_its_entry_expires(
    served: InProcessService,
) -> None:
    with served.client("acme") as client:
        assert client.post("/v1/users/carol/memories", json={"content": "one"}).status_code == 201
        revoked = run_cli("--store", served.store, "keys", "revoke", served.key_ids["acme"])
        assert revoked.returncode == 0, revoked.stderr
        # Within the cache's time the server has not read the table again: the bound.
        served.clock.now += TTL / 2
        assert client.post("/v1/users/carol/search", json={"query": "one"}).status_code == 200
        served.clock.now += TTL / 2
        refused = client.post("/v1/users/carol/memories", json={"content": "two"})
        assert "was revoked" in _message(refused, 401)
        # Refused for good: the revoked key was not put back in the cache.
        assert "was revoked" in _message(client.get("/v1/users/carol/memories"), 401)
        served.clock.now += 10 * TTL
        refused = client.post("/v1/users/carol/search", json={"query": "one"})
        assert "was revoked" in _message(refused, 401)
    assert served.keys.cached(served.tokens["acme"]) is None
    assert served.engine.count("acme:carol") == 1  # the refused write stored nothing
    with served.client("globex") as client:  # another key still works
        assert client.get("/v1/users").json() == {"users": []}


def test_a_key_revoked_through_the_servers_key_store_is_refused_at_once(
    served: InProcessService,
) -> None:
    with served.client("acme") as client:
        assert client.post("/v1/users/carol/memories", json={"content": "one"}).status_code == 201
        served.keys.revoke(served.key_ids["acme"])
        refused = client.post("/v1/users/carol/memories", json={"content": "two"})
        assert "was revoked" in _message(refused, 401)
    with served.client("acme_alice") as client:
        assert client.get("/v1/users/alice/memories").status_code == 404  # no such user yet


def test_a_read_that_began_before_a_revocation_does_not_refill_the_cache(tmp_path: Path) -> None:
    clock = FakeClock()
    keys = KeyStore(f"sqlite:///{tmp_path / 'keys.db'}", clock=clock)
    try:
        made = keys.create("acme")
        token, key_id = made.token, made.key.key_id
        cache = KeyCache(TTL, clock=clock)
        begun = cache.begin()
        found = keys.authenticate(token)  # a request's read of the table...
        assert found is not None and not found.revoked
        cache.clear()  # ... and a revocation before it stores what it read
        cache.put(token, found, begun)
        assert cache.get(token) is None and len(cache) == 0
        cache.put(token, found, cache.begin())
        assert cache.get(token) == found
        # The entry's time runs from when the read began, not when it was stored.
        begun = cache.begin()
        clock.now += TTL / 2
        cache.put(token, found, begun)
        clock.now += TTL / 2
        assert cache.get(token) is None
        assert keys.revoke(key_id).revoked
    finally:
        keys.close()


def test_two_key_stores_on_one_database_see_a_revocation_within_the_cache_time(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    clock = FakeClock()
    server, command = KeyStore(url, clock=clock), KeyStore(url, cache_seconds=0)
    try:
        made = command.create("acme")
        token, key_id = made.token, made.key.key_id
        assert server.authenticate(token) is not None and server.cached(token) is not None
        command.revoke(key_id)
        clock.now += TTL * 0.99
        still = server.authenticate(token)
        assert still is not None and not still.revoked
        clock.now += TTL * 0.01
        assert server.cached(token) is None
        refused = server.authenticate(token)
        assert refused is not None and refused.revoked
        assert server.cached(token) is None
    finally:
        server.close()
        command.close()


# -- what is never served or kept --------------------------------------------------------


def test_unknown_forged_and_malformed_keys_are_never_kept(served: InProcessService) -> None:
    token = served.tokens["acme"]
    prefix, secret = token.rsplit("_", 1)
    forged = f"{prefix}_{'A' * len(secret) if secret != 'A' * len(secret) else 'B' * len(secret)}"
    unknown = "ms_0123456789abcdef_" + "A" * 43
    with served.client("acme") as client:
        assert client.post("/v1/users/carol/memories", json={"content": "one"}).status_code == 201
    assert len(served.keys._cache) == 1
    for bad in (forged, unknown, "not-a-key", token + "x", token.upper()):
        for _ in range(3):
            with served.client(token=bad) as client:
                answer = client.post("/v1/users/carol/search", json={"query": "one"})
                assert "unknown API key" in _message(answer, 401)
            assert served.keys.cached(bad) is None
    assert len(served.keys._cache) == 1  # only the valid key, after 15 refusals
    with served.client("acme") as client:
        assert client.get("/v1/users/carol/memories").json()["total"] == 1


def _strings_reachable_from(root: object) -> list[str | bytes]:
    """Every str and bytes object the root holds, however deep (not through modules)."""
    seen: set[int] = set()
    found: list[str | bytes] = []
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type) or callable(item) and item is not root:
            continue
        seen.add(id(item))
        if isinstance(item, str | bytes):
            found.append(item)
            continue
        stack.extend(gc.get_referents(item))
    return found


def test_the_cache_never_holds_the_presented_key(served: InProcessService) -> None:
    with served.client("acme") as acme, served.client("acme_alice") as alice:
        assert acme.get("/v1/users").status_code == 200
        assert alice.get("/v1/users/alice/memories").status_code == 404
    cache = served.keys._cache
    assert len(cache) == 2
    held = _strings_reachable_from(cache)
    assert any(isinstance(item, bytes) and len(item) == 32 for item in held)  # the digests
    for name in ("acme", "acme_alice"):
        token = served.tokens[name]
        secret = token.rsplit("_", 1)[1]
        for item in held:
            text = item.decode("latin-1") if isinstance(item, bytes) else item
            assert token not in text and secret not in text


# -- tenancy with the cache warm ---------------------------------------------------------


def test_a_warm_key_never_reaches_another_tenants_users(served: InProcessService) -> None:
    written: dict[str, Any] = {}
    for tenant in ("acme", "globex"):
        with served.client(tenant) as client:
            for user in ("alice", "bob"):
                content = f"{tenant} {user} likes sailing"
                answer = client.post(f"/v1/users/{user}/memories", json={"content": content})
                assert answer.status_code == 201, answer.text
                written[f"{tenant}/{user}"] = answer.json()["id"]
    with served.client("acme") as client:
        client.post("/v1/users/carol/memories", json={"content": "acme carol likes sailing"})
    assert len(served.keys._cache) == 2  # both tenants' keys are warm
    for _ in range(2):  # from the table, then from the cache
        for tenant, other in (("acme", "globex"), ("globex", "acme")):
            with served.client(tenant) as client:
                for user in ("alice", "bob"):
                    hits = _contents(
                        client.post(f"/v1/users/{user}/search", json={"query": "sailing"})
                    )
                    assert hits == [f"{tenant} {user} likes sailing"]
                    other_id = written[f"{other}/{user}"]
                    assert client.get(f"/v1/users/{user}/memories/{other_id}").status_code == 404
                users = client.get("/v1/users").json()["users"]
                assert users == (
                    ["alice", "bob", "carol"] if tenant == "acme" else ["alice", "bob"]
                )
            with served.client("globex") as client:
                unknown = client.post("/v1/users/carol/search", json={"query": "sailing"})
                assert "unknown user" in _message(unknown, 404)
        with served.client("acme_alice") as client:
            assert _contents(client.post("/v1/users/alice/search", json={"query": "sailing"}))
            assert "may not reach user 'bob'" in _message(
                client.post("/v1/users/bob/search", json={"query": "sailing"}), 403
            )


# -- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [-1, MAX_TTL + 1, float("nan"), True, "1"])
def test_a_bad_cache_time_is_refused(ttl: Any) -> None:
    with pytest.raises(ConfigurationError, match="ttl must be 0 to 60 seconds"):
        KeyCache(ttl)


def test_no_cache_time_reads_the_table_every_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    server, command = KeyStore(url, cache_seconds=0), KeyStore(url, cache_seconds=0)
    try:
        made = command.create("acme")
        token, key_id = made.token, made.key.key_id
        assert server.authenticate(token) is not None and server.cached(token) is None
        command.revoke(key_id)
        refused = server.authenticate(token)
        assert refused is not None and refused.revoked
    finally:
        server.close()
        command.close()


def test_serve_refuses_a_bad_key_cache_time_before_starting(tmp_path: Path) -> None:
    refused = run_cli("--store", tmp_path / "store", "serve", "--key-cache-seconds", "120")
    assert refused.returncode == 1 and "ttl must be 0 to 60 seconds" in refused.stderr
    assert not (tmp_path / "store").exists()
