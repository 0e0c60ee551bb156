"""Where a search runs: in the event loop when the server is idle, in a worker otherwise.

The service's app runs under uvicorn on loopback in this process, over an engine whose
embedder is the real model behind a wrapper that notes the thread each text was
embedded on (the model is the outside boundary). "Another request in flight" is a real
one: a raw socket that sent the headers of a request and only part of its body.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from multisession import MemoryEngine
from multisession.embeddings.base import Embedder
from multisession.server.app import create_app
from multisession.server.keys import KeyStore
from multisession.server.tenancy import owner_id


class ThreadNotingEmbedder:
    """The real embedder, noting the thread each text was embedded on."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.threads: dict[str, list[str]] = {}

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def dimension(self) -> int:
        return self.embedder.dimension

    def embed(self, texts: Sequence[str]) -> Any:
        for text in texts:
            self.threads.setdefault(text, []).append(threading.current_thread().name)
        return self.embedder.embed(texts)


@dataclass
class Served:
    url: str
    port: int
    token: str
    embedder: ThreadNotingEmbedder
    app: Any
    loop_thread: str

    def search(self, query: str) -> list[str]:
        response = httpx.post(
            f"{self.url}/v1/users/alice/search",
            json={"query": query, "k": 3},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return [hit["memory"]["content"] for hit in response.json()["hits"]]

    def in_flight(self) -> int:
        return int(self.app.state.requests.value)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.01)


@pytest.fixture()
def served(tmp_path: Path, minilm: Embedder) -> Iterator[Served]:
    store = tmp_path / "store"
    embedder = ThreadNotingEmbedder(minilm)
    engine = MemoryEngine(store, embedder=embedder)
    engine.add(owner_id("acme", "alice"), "Alice is allergic to peanuts")
    engine.add(owner_id("acme", "alice"), "Alice plays the cello on Sundays")
    keys = KeyStore(f"sqlite:///{store / 'memory.db'}")
    token = keys.create("acme").token
    app = create_app(engine, keys)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="event-loop", daemon=True)
    thread.start()
    _wait_for(lambda: server.started, "the server's start")
    try:
        yield Served(f"http://127.0.0.1:{port}", port, token, embedder, app, thread.name)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        keys.close()
        engine.close()


def test_a_search_on_an_idle_server_runs_in_the_event_loop(served: Served) -> None:
    assert served.search("which instrument does she play?")[0] == (
        "Alice plays the cello on Sundays"
    )
    assert served.embedder.threads["which instrument does she play?"] == [served.loop_thread]
    assert served.in_flight() == 0


def test_a_search_while_another_request_is_in_flight_runs_in_a_worker(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port)) as slow:
        # The headers of a write and the start of its body: in flight until the rest comes.
        slow.sendall(
            b"POST /v1/users/alice/memories HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + served.token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 60\r\n\r\n"
            b'{"content": '
        )
        _wait_for(lambda: served.in_flight() == 1, "the slow request's arrival")
        assert served.search("what must she not eat?")[0] == "Alice is allergic to peanuts"
        [thread] = served.embedder.threads["what must she not eat?"]
        assert thread != served.loop_thread
        # The slow request is still served once its body arrives, after the search.
        body = b'"Alice lives in Lisbon"}'
        slow.sendall(body + b" " * (60 - len(b'{"content": ') - len(body)))
        answer = slow.recv(65536)
        assert answer.startswith(b"HTTP/1.1 201"), answer
    _wait_for(lambda: served.in_flight() == 0, "the slow request's end")
    assert served.search("where does she live?")[0] == "Alice lives in Lisbon"
    assert served.embedder.threads["where does she live?"] == [served.loop_thread]
