"""Fault injection: simultaneous processes, transactions cut short.

Each test makes a fault happen for real (several processes racing to create one store,
a write failing halfway) and checks what the store holds afterwards.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]

# Each worker opens every store at the same moment as the others (one store every half
# second): the schema is created by whichever gets there first while the others find it
# half made. A worker prints the last line of each error.
_OPEN_AT_ONCE = """
import sys, time, traceback
from multisession.storage.sql_store import SQLStore
start = float(sys.argv[1])
for position, url in enumerate(sys.argv[2:]):
    while time.time() < start + 0.5 * position:
        time.sleep(0.001)
    try:
        SQLStore(url).close()
    except Exception:
        print(traceback.format_exc().strip().splitlines()[-1])
"""


def _open_at_once(urls: list[str], workers: int) -> list[str]:
    """Open each store from ``workers`` processes at the same moment; their errors."""
    start = time.time() + 5.0  # past every worker's import
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT_ONCE, repr(start), *urls],
            cwd=REPOSITORY,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(workers)
    ]
    failures = []
    for process in processes:
        output, _ = process.communicate(timeout=120)
        failures += output.strip().splitlines()
        if process.returncode != 0:
            failures.append(f"worker exited with {process.returncode}")
    return failures


def test_processes_creating_one_sqlite_store_at_once_all_open_it(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'store{round_}' / 'memory.db'}" for round_ in range(5)]
    for url in urls:
        Path(url.removeprefix("sqlite:///")).parent.mkdir()

    assert _open_at_once(urls, workers=6) == []


@pytest.mark.server
def test_processes_creating_one_postgresql_store_at_once_all_open_it(
    postgres_server: str,
) -> None:
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    names = [f"t_open_{uuid.uuid4().hex[:12]}" for _ in range(5)]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        assert _open_at_once([f"{postgres_server}/{name}" for name in names], workers=6) == []
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_failed_record_exchange_stores_nothing_so_a_retry_stores_the_turn_once(
    tmp_path: Path,
) -> None:
    import sqlite3

    from multisession import MemoryEngine

    said = "Please remember that I am allergic to peanuts."
    with MemoryEngine(tmp_path / "store", embedder=None) as engine:
        # The disk refuses memories (a real SQLite failure, raised inside the write).
        with sqlite3.connect(tmp_path / "store" / "memory.db") as database:
            database.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON ms_memories "
                "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        with pytest.raises(Exception):  # noqa: B017 - whichever error the failure gives
            engine.record_exchange("alice", "c1", said, "Noted.")
        with sqlite3.connect(tmp_path / "store" / "memory.db") as database:
            database.execute("DROP TRIGGER refuse")

        assert engine.get_messages("alice", "c1") == []
        engine.record_exchange("alice", "c1", said, "Noted.")

        assert [(m.role, m.content) for m in engine.get_messages("alice", "c1")] == [
            ("user", said),
            ("assistant", "Noted."),
        ]
        assert [memory.content for memory in engine.list("alice")] == ["I am allergic to peanuts"]


# -- the vector server frozen or down ----------------------------------------------------

VECTOR_TIMEOUT = 2.0
# A call may take its timeout and some slack on a busy machine; what is guarded against
# is a hang for as long as the server stays frozen.
HANG = VECTOR_TIMEOUT + 5.0


@pytest.mark.server
def test_a_frozen_vector_server_costs_calls_their_timeout_and_search_falls_back_to_keywords(
    tmp_path: Path, own_chroma_server: Any, minilm: Any
) -> None:
    import os
    import signal

    from multisession import MemoryEngine

    engine = MemoryEngine(
        tmp_path / "store",
        vector_url=own_chroma_server.url,
        embedder=minilm,
        exact_vector_limit=0,
        vector_flush_size=1,
        vector_timeout=VECTOR_TIMEOUT,
    )
    kept = engine.add("alice", "I am allergic to peanuts")
    os.kill(own_chroma_server.process.pid, signal.SIGSTOP)
    try:
        timings = {}
        started = time.monotonic()
        hits = engine.search("alice", "peanuts")
        timings["search"] = time.monotonic() - started
        started = time.monotonic()
        added = engine.add("alice", "My sister lives in Lisbon")
        timings["add"] = time.monotonic() - started
        started = time.monotonic()
        engine.add_many("alice", [f"note {number}" for number in range(3)])
        timings["add_many"] = time.monotonic() - started
        started = time.monotonic()
        engine.delete("alice", kept.id)
        timings["delete"] = time.monotonic() - started
        started = time.monotonic()
        engine.close()
        timings["close"] = time.monotonic() - started
    finally:
        os.kill(own_chroma_server.process.pid, signal.SIGCONT)

    assert {name: took < HANG for name, took in timings.items()} == dict.fromkeys(timings, True)
    assert [hit.memory.id for hit in hits] == [kept.id]
    # The writes were acknowledged from SQL; the vector index gets them on repair.
    with MemoryEngine(
        tmp_path / "store", vector_url=own_chroma_server.url, embedder=minilm, exact_vector_limit=0
    ) as reopened:
        assert added.id in {memory.id for memory in reopened.list("alice")}
        reopened.repair()
        assert reopened.search("alice", "Lisbon")[0].memory.id == added.id


@pytest.mark.server
def test_an_engine_opens_while_the_vector_server_is_down_and_serves_keyword_search(
    tmp_path: Path, own_chroma_server: Any, minilm: Any
) -> None:
    from multisession import MemoryEngine

    url = own_chroma_server.url
    own_chroma_server.stop()

    with MemoryEngine(
        tmp_path / "store", vector_url=url, embedder=minilm, vector_timeout=VECTOR_TIMEOUT
    ) as engine:
        stored = engine.add("alice", "I am allergic to peanuts")
        assert [hit.memory.id for hit in engine.search("alice", "peanuts")] == [stored.id]


# -- the audit log ------------------------------------------------------------------------


def test_the_audit_log_hashes_user_ids_with_a_secret_of_the_store(tmp_path: Path) -> None:
    import hashlib

    from multisession import MemoryEngine

    hashes = []
    for name in ("one", "two"):
        with MemoryEngine(tmp_path / name, embedder=None) as engine:
            engine.add("alice@example.com", "I like tea")
            engine.delete_user("alice@example.com")
            hashes.append(engine._store.audit_log()[-1]["user_hash"])
        with MemoryEngine(tmp_path / name, embedder=None) as engine:
            engine.add("alice@example.com", "I like tea")
            engine.delete_user("alice@example.com")
            # The same store names the same user the same way after reopening.
            assert engine._store.audit_log()[-1]["user_hash"] == hashes[-1]

    guessed = hashlib.sha256(b"alice@example.com").hexdigest()
    assert guessed not in hashes
    assert hashes[0] != hashes[1]


# -- what a deleted user leaves behind ----------------------------------------------------

# Another process keeps the store open (and its connection pool warm) meanwhile.
_HOLD_OPEN = """
import sys
from multisession import MemoryEngine
engine = MemoryEngine(sys.argv[1], embedder=None)
engine.search("someone-else", "tea")
print("open", flush=True)
sys.stdin.read()
engine.close()
"""


def test_delete_user_leaves_no_byte_of_the_user_in_any_file_of_the_store(
    tmp_path: Path, minilm: Any
) -> None:
    from multisession import MemoryEngine

    store = tmp_path / "store"
    secrets = [b"SECRETCONTENT", b"SECRETCONV", b"secretkind", b"SECRETMESSAGE", b"victim-7c1"]
    engine = MemoryEngine(store, embedder=minilm, exact_vector_limit=0)
    engine.add("someone-else", "I like tea")
    other = subprocess.Popen(
        [sys.executable, "-c", _HOLD_OPEN, str(store)],
        cwd=REPOSITORY,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "open"
        memory = engine.add(
            "victim-7c1",
            "SECRETCONTENT about peanuts",
            conversation_id="SECRETCONV",
            kind="secretkind",
        )
        engine.add_messages("victim-7c1", "SECRETCONV", [("user", "SECRETMESSAGE text")])
        engine.flush_vectors()
        vector = engine._store.index_rows("victim-7c1", with_embeddings=True)[0].embedding
        assert vector is not None
        engine.delete_user("victim-7c1")
        engine.close()

        left = {
            (str(path.relative_to(store)), needle.decode(errors="replace"))
            for path in store.rglob("*")
            if path.is_file()
            for needle in [*secrets, memory.id.encode(), vector[:64]]
            if needle in path.read_bytes()
        }
    finally:
        other.communicate("", timeout=60)

    assert left == set()


# -- a lost vector index ------------------------------------------------------------------


def test_opening_the_store_rebuilds_a_lost_vector_index(tmp_path: Path, minilm: Any) -> None:
    import shutil

    from multisession import MemoryEngine

    store = tmp_path / "store"
    with MemoryEngine(store, embedder=minilm, exact_vector_limit=0) as engine:
        kept = {engine.add("alice", text).id for text in ("I like tea", "I live in Lisbon")}
    shutil.rmtree(store / "chroma")

    with MemoryEngine(store, embedder=minilm, exact_vector_limit=0) as engine:
        assert engine._vectors is not None
        assert engine._vectors.ids("alice") == kept


def test_repair_keeps_the_vectors_of_memories_sql_lost_without_deleting_them(
    tmp_path: Path, minilm: Any
) -> None:
    import shutil

    from multisession import MemoryEngine

    store = tmp_path / "store"
    with MemoryEngine(store, embedder=minilm, exact_vector_limit=0) as engine:
        engine.add("alice", "I like tea")
    shutil.copy(store / "memory.db", tmp_path / "backup.db")
    with MemoryEngine(store, embedder=minilm, exact_vector_limit=0) as engine:
        lost = {engine.add("alice", text).id for text in ("I live in Lisbon", "I have a cat")}
        gone = engine.add("alice", "I used to smoke").id
        engine.delete("alice", gone)
    # SQL loses the last writes (an older file comes back, as a damaged log leaves it).
    for leftover in store.glob("memory.db*"):
        leftover.unlink()
    shutil.copy(tmp_path / "backup.db", store / "memory.db")

    with MemoryEngine(store, embedder=minilm, exact_vector_limit=0) as engine:
        report = engine.repair()
        assert engine._vectors is not None
        assert lost <= engine._vectors.ids("alice")
    assert (report.orphans_removed, report.orphans_kept) == (0, 2)


# -- damaged files -------------------------------------------------------------------------


def _garble(path: Path) -> None:
    """Overwrite the file after its first page: its pages no longer make sense."""
    data = bytearray(path.read_bytes())
    data[4096:] = bytes(range(256)) * ((len(data) - 4096) // 256) + bytes(len(data) % 256)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damaged", ["memory.db", "chroma/chroma.sqlite3"])
def test_a_damaged_file_raises_an_error_naming_it_and_the_fix(
    tmp_path: Path, minilm: Any, damaged: str
) -> None:
    from multisession import MemoryEngine
    from multisession.errors import StoreDamagedError

    store = tmp_path / "store"
    with MemoryEngine(store, embedder=minilm, exact_vector_limit=0) as engine:
        engine.add_many("alice", [f"fact number {number}" for number in range(200)])
    _garble(store / damaged)

    with (
        pytest.raises(StoreDamagedError) as raised,
        MemoryEngine(store, embedder=minilm, exact_vector_limit=0) as engine,
    ):
        engine.list("alice")
        engine.search("alice", "fact")
    assert str(store / damaged) in str(raised.value)
    assert "backup" in str(raised.value) or "rebuild" in str(raised.value)


class _Proxy:
    """A TCP relay on loopback in front of a server, which a test can cut like a network."""

    def __init__(self, port: int) -> None:
        import socket
        import threading

        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._up = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._up:
                    client.close()
                    continue
                server = socket.create_connection(("127.0.0.1", self._target))
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()

    def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a stopped server would."""
        import socket

        with self._lock:
            self._up = False
            for end in self._open:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.mark.server
def test_postgresql_going_away_after_open_raises_backend_unavailable_and_recovers(
    postgres_url: str,
) -> None:
    from sqlalchemy.engine import make_url

    from multisession import BackendUnavailableError, MemoryEngine

    url = make_url(postgres_url)
    proxy = _Proxy(int(url.port or 5432))
    try:
        through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
        with MemoryEngine(sql_url=through_proxy, embedder=None) as engine:
            kept = engine.add("u", "I keep bees on the roof")
            proxy.cut()
            for call in (
                lambda: engine.search("u", "bees"),
                lambda: engine.add("u", "the hives are blue"),
                lambda: engine.list("u"),
            ):
                with pytest.raises(BackendUnavailableError, match="cannot be reached.*retry"):
                    call()
            proxy.restore()
            assert [m.content for m in engine.list("u")] == [kept.content]
            assert [hit.memory.id for hit in engine.search("u", "bees")] == [kept.id]
    finally:
        proxy.close()


def _pending_deletions(store: Path) -> int:
    import sqlite3

    with sqlite3.connect(store / "memory.db") as conn:
        return int(conn.execute("SELECT count(*) FROM ms_pending_deletions").fetchone()[0])


def test_a_store_without_vectors_keeps_no_proof_of_deletions(tmp_path: Path) -> None:
    from multisession import MemoryEngine

    with MemoryEngine(tmp_path, embedder=None) as engine:
        for round_ in range(3):
            memory = engine.add("u", f"note {round_}")
            engine.delete("u", memory.id)
        engine.delete_user("u")
    assert _pending_deletions(tmp_path) == 0


def test_a_keyword_only_delete_in_a_store_with_vectors_is_kept_until_repair(
    tmp_path: Path, minilm: Any
) -> None:
    from multisession import MemoryEngine

    with MemoryEngine(tmp_path, embedder=minilm) as engine:
        memory = engine.add("u", "I keep bees")
    with MemoryEngine(tmp_path, embedder=None) as engine:
        engine.delete("u", memory.id)
    assert _pending_deletions(tmp_path) == 1
    with MemoryEngine(tmp_path, embedder=minilm) as engine:
        # Searched exactly from SQL, the memory never had a vector in Chroma.
        assert engine.repair().orphans_removed == 0
    assert _pending_deletions(tmp_path) == 0
