"""Running the service: metrics, the slow-search warning, the rate limit, a store that is down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from .conftest import Service, start_service, stop_service
from .test_api import error


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A server that calls every search slow (so each one is logged)."""
    store = tmp_path_factory.mktemp("watched") / "store"
    running = start_service(
        store, "--slow-search-ms", "0", keys={"acme": ("acme",), "ops": ("ops",)}
    )
    try:
        yield running
    finally:
        stop_service(running)


def _value(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match is not None, f"{name} not in the metrics"
    return float(match.group(1))


def test_metrics_count_writes_searches_and_users(watched: Service) -> None:
    with watched.client("acme") as acme:
        for text in ("likes green tea", "lives in Porto", "plays the cello"):
            assert acme.post("/v1/users/zoe/memories", json={"content": text}).status_code == 201
        acme.post("/v1/users/yann/memories", json={"content": "likes jazz"})
        for query in ("tea", "music", "city"):
            assert acme.post("/v1/users/zoe/search", json={"query": query}).status_code == 200
    with watched.client() as anonymous:
        assert "needs an API key" in error(anonymous.get("/metrics"), 401)
    with watched.client("ops") as ops:
        response = ops.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _value(text, "multisession_memories_written_total") == 4
    assert _value(text, "multisession_search_seconds_count") == 3
    assert _value(text, 'multisession_search_seconds_bucket{le="+Inf"}') == 3
    assert _value(text, "multisession_users") == 2
    assert _value(text, "multisession_memories") == 4
    assert _value(text, "multisession_memories_per_user") == 2
    assert _value(text, 'multisession_degraded_searches_total{reason="vector_search_failed"}') == 0
    hits = _value(text, 'multisession_index_cache_total{result="hit"}')
    loads = _value(text, 'multisession_index_cache_total{result="load"}')
    assert (
        loads >= 1
        and hits + loads + _value(text, 'multisession_index_cache_total{result="catch_up"}') >= 3
    )
    assert "zoe" not in text and "acme" not in text


def test_slow_searches_are_logged_with_the_user_hashed(watched: Service) -> None:
    with watched.client("acme") as acme:
        acme.post("/v1/users/xavier/memories", json={"content": "collects stamps"})
        assert acme.post("/v1/users/xavier/search", json={"query": "hobby"}).status_code == 200
    log = watched.log.read_text()
    warnings = re.findall(r"slow search: \d+ ms for user ([0-9a-f]{16})", log)
    assert warnings, log
    assert "xavier" not in log and "zoe" not in log


def test_over_the_rate_a_key_gets_429_and_nothing_is_stored(tmp_path: Path) -> None:
    keys = {"app": ("acme",), "other": ("acme",)}
    running = start_service(tmp_path / "store", "--no-embed", "--rate-limit", "0.2", keys=keys)
    try:
        with running.client("app") as app, running.client("other") as other:
            assert app.post("/v1/users/kim/memories", json={"content": "one"}).status_code == 201
            refused = app.post("/v1/users/kim/memories", json={"content": "two"})
            assert "too many requests" in error(refused, 429)
            assert int(refused.headers["retry-after"]) >= 1
            # Each key has its own allowance.
            listed = other.get("/v1/users/kim/memories")
            assert listed.status_code == 200 and listed.json()["total"] == 1
    finally:
        stop_service(running)


def test_a_sql_store_that_is_down_answers_503(tmp_path: Path, postgres_url: str) -> None:
    running = start_service(
        tmp_path / "store", "--no-embed", keys={"acme": ("acme",)}, sql_url=postgres_url
    )
    try:
        with running.client("acme") as client:
            assert client.post("/v1/users/lou/memories", json={"content": "x"}).status_code == 201
            _drop(postgres_url)
            down = client.get("/v1/users/lou/memories")
            assert re.search(r"the SQL store\b.* cannot be reached", error(down, 503))
            assert "cannot be reached" in error(client.get("/readyz"), 503)
            assert client.get("/healthz").status_code == 200
    finally:
        stop_service(running)


def _drop(sql_url: str) -> None:
    """Take the database away, as a database server that went down would."""
    base, name = sql_url.rsplit("/", 1)
    admin = base.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
