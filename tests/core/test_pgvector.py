"""PostgreSQL + pgvector: vectors in the memories' own rows, searched by an HNSW index.

A real PostgreSQL server with the pgvector extension runs on loopback (``pgvector_url``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import sqlalchemy as sa

from multisession import MemoryEngine, RetrievalConfig
from multisession.errors import ConfigurationError
from multisession.storage.pgvector import PgVectorIndex
from multisession.storage.schema import from_bytes

SEMANTIC = RetrievalConfig(bm25_weight=0)


@contextmanager
def connected(url: str) -> Iterator[sa.Connection]:
    """A connection to the test's database, and nothing left open after."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def column_vectors(url: str, user_id: str) -> dict[str, tuple[bytes, list[float] | None, bool]]:
    """Each memory's blob, pgvector column (as floats) and vector_indexed flag."""
    with connected(url) as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, embedding, embedding_vector::real[], vector_indexed "
            "FROM ms_memories WHERE user_id = %s",
            (user_id,),
        ).all()
    return {row[0]: (bytes(row[1]), row[2], row[3]) for row in rows}


def test_vectors_are_written_with_their_rows_exactly(pgvector_url, minilm, open_engine):
    engine = open_engine(directory=None, sql_url=pgvector_url)
    assert isinstance(engine._vectors, PgVectorIndex)
    first = engine.add_many("alice", ["I live in Oslo", "My sister is Ingrid"])
    changed = engine.update("alice", first[0].id, content="I moved to Bergen")
    stored = column_vectors(pgvector_url, "alice")
    assert set(stored) == {memory.id for memory in first}
    for blob, column, indexed in stored.values():
        expected = from_bytes(blob, minilm.dimension)
        assert expected is not None and column is not None
        assert np.array_equal(np.asarray(column, dtype=np.float32), expected)
        assert indexed
    assert np.allclose(
        np.asarray(stored[changed.id][1]), minilm.embed(["I moved to Bergen"])[0], atol=1e-6
    )
    # Nothing waits for a vector index: SQL is it.
    assert engine.stats()["pending_vectors"] == 0
    assert engine.stats()["buffered_vectors"] == 0


def test_index_search_matches_exact_search_and_never_crosses_users(
    pgvector_url, minilm, open_engine, tmp_path
):
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((300, minilm.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    class Table:
        """Precomputed vectors by text (the embedding service, outside the project)."""

        name = "table-embedder"
        dimension = minilm.dimension

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.stack([vectors[int(text.split()[-1])] for text in texts])

    texts = [f"note number {i}" for i in range(300)]
    on_pg = open_engine(
        directory=None, sql_url=pgvector_url, embedder=Table(), exact_vector_limit=0
    )
    exact = open_engine(directory=tmp_path / "exact", embedder=Table())
    for engine in (on_pg, exact):
        engine.add_many("alice", texts[:250])
        engine.add_many("bob", texts[250:])
    for probe in (0, 17, 123, 260):
        query = vectors[probe] + 0.3 * rng.standard_normal(minilm.dimension).astype(np.float32)
        found = on_pg.search("alice", "x", k=10, config=SEMANTIC, query_vector=query)
        expected = exact.search("alice", "x", k=10, config=SEMANTIC, query_vector=query)
        assert [r.memory.content for r in found] == [r.memory.content for r in expected]
        assert all(r.memory.user_id == "alice" for r in found)
    # bob has fewer memories than asked for: all of his, none of alice's (no relevance
    # floor: his vectors are random against this query).
    found = on_pg.search(
        "bob", "x", k=80, config=SEMANTIC, query_vector=vectors[0], min_relevance=0
    )
    assert sorted(r.memory.content for r in found) == sorted(texts[250:])


def test_filters_apply_inside_the_index_query(pgvector_url, open_engine):
    engine = open_engine(directory=None, sql_url=pgvector_url, exact_vector_limit=0)
    engine.add("alice", "I like green tea", kind="preference", metadata={"topic": "drink"})
    engine.add("alice", "I like green tea a lot", kind="fact", metadata={"topic": "drink"})
    engine.add("alice", "Green tea is my favourite", kind="preference", metadata={"topic": "x"})
    found = engine.search(
        "alice", "green tea", config=SEMANTIC, kinds=["preference"], filter={"topic": "drink"}
    )
    assert [r.memory.content for r in found] == ["I like green tea"]


WRITER = textwrap.dedent(
    """
    import json, sys
    from multisession import MemoryEngine
    engine = MemoryEngine(sql_url=sys.argv[1])
    for batch in range(1000):
        memories = engine.add_many(
            "alice", [f"batch {batch} note {i}: fox {batch * 20 + i}" for i in range(20)]
        )
        print(json.dumps([m.id for m in memories]), flush=True)
    """
)


def test_writer_killed_loses_nothing_and_needs_no_repair(pgvector_url, minilm, tmp_path):
    MemoryEngine(sql_url=pgvector_url, embedder=minilm).close()  # set up once
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    with subprocess.Popen(
        [sys.executable, str(script), pgvector_url],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    ) as process:
        assert process.stdout is not None
        acknowledged: list[str] = []
        for _ in range(3):
            acknowledged += json.loads(process.stdout.readline())
        process.send_signal(signal.SIGKILL)
        acknowledged += [
            memory_id
            for line in process.stdout.read().splitlines()
            for memory_id in json.loads(line)
        ]
    assert process.returncode == -signal.SIGKILL

    # No repair on open: every committed row already has its vector in the index.
    with MemoryEngine(
        sql_url=pgvector_url, embedder=minilm, repair_on_open=False, exact_vector_limit=0
    ) as engine:
        stored = {memory.id for memory in engine.list("alice", limit=100_000)}
        assert set(acknowledged) <= stored
        assert engine.stats()["pending_vectors"] == 0
        assert engine._vectors is not None
        assert engine._vectors.ids("alice") == stored
        assert engine.repair().reindexed == 0
        found = engine.search("alice", "batch 1 note 3: fox 23", k=1, config=SEMANTIC)
        assert found[0].memory.content == "batch 1 note 3: fox 23"


def test_a_store_that_used_chroma_moves_its_vectors_into_sql(pgvector_url, minilm, tmp_path):
    with MemoryEngine(
        sql_url=pgvector_url, vector_url=str(tmp_path / "chroma"), embedder=minilm
    ) as old:
        old.add_many("alice", ["I live in Oslo", "My sister is Ingrid", "I play chess"])
    with connected(pgvector_url) as conn:
        columns = conn.exec_driver_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ms_memories'"
        ).scalars()
        assert "embedding_vector" not in set(columns)
    with MemoryEngine(sql_url=pgvector_url, embedder=minilm, exact_vector_limit=0) as engine:
        assert isinstance(engine._vectors, PgVectorIndex)
        stored = column_vectors(pgvector_url, "alice")
        assert all(column is not None and indexed for _, column, indexed in stored.values())
        found = engine.search("alice", "where does my sibling live", k=3, config=SEMANTIC)
        assert {r.memory.content for r in found} == {
            "I live in Oslo",
            "My sister is Ingrid",
            "I play chess",
        }


def test_pgvector_is_refused_where_it_cannot_be(postgres_url, minilm, store_dir):
    with pytest.raises(ConfigurationError, match="postgresql"):
        MemoryEngine(store_dir, vector_url="pgvector", embedder=minilm)
    # Debian's PostgreSQL here has no pgvector: asked for, it is refused with the fix...
    with pytest.raises(ConfigurationError, match="no pgvector extension"):
        MemoryEngine(sql_url=postgres_url, vector_url="pgvector", embedder=minilm)
    # ...and not asked for, a directory's embedded Chroma serves as before.
    with MemoryEngine(store_dir, sql_url=postgres_url, embedder=minilm) as engine:
        assert not isinstance(engine._vectors, PgVectorIndex)
        engine.add("alice", "I live in Oslo")
        assert engine.search("alice", "Oslo", config=SEMANTIC)


def test_a_dropped_server_connection_is_replaced_before_use(pgvector_url, minilm, monkeypatch):
    from multisession.storage import _connections

    with MemoryEngine(sql_url=pgvector_url, embedder=minilm) as engine:
        engine.add("alice", "I live in Oslo")
        assert engine.search("alice", "Oslo")
        # The server drops every idle connection (a restart, a proxy's idle timeout).
        with connected(pgvector_url) as conn:
            dropped = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar_one()
        assert dropped >= 1
        monkeypatch.setattr(_connections, "PING_AFTER_IDLE", 0.0)  # idle long enough
        assert [hit.memory.content for hit in engine.search("alice", "Oslo")] == ["I live in Oslo"]
        assert engine.get("alice", engine.list("alice")[0].id).content == "I live in Oslo"


def test_a_big_users_repeated_search_keeps_using_the_hnsw_index(pgvector_url, minilm, open_engine):
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((600, minilm.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    class Table:
        """Precomputed vectors by text (the embedding service, outside the project)."""

        name = "table-embedder"
        dimension = minilm.dimension

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.stack([vectors[int(text.split()[-1])] for text in texts])

    engine = open_engine(
        directory=None, sql_url=pgvector_url, embedder=Table(), exact_vector_limit=0
    )
    engine.add_many("alice", [f"note number {i}" for i in range(400)])
    for user in range(40):  # many small users: the average user is small
        engine.add_many(f"user-{user}", [f"note number {400 + 5 * user + i}" for i in range(5)])
    with engine._store.engine.connect() as conn:  # as autovacuum would, later
        conn.exec_driver_sql("ANALYZE ms_memories")
        conn.commit()
    # Past psycopg's fifth run a statement is prepared, past PostgreSQL's fifth a
    # generic plan may take over: search more often than both on one connection.
    for probe in range(12):
        found = engine.search("alice", "x", k=10, config=SEMANTIC, query_vector=vectors[probe])
        assert found[0].memory.content == f"note number {probe}"
    with engine._store.engine.connect() as conn:  # the pool's one connection
        prepared = conn.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%<=>%%' AND statement NOT LIKE '%%+ 0%%'"
        ).all()
    # Each run was planned for 'alice' herself, never as a generic plan that sizes her
    # as the average user and so reads her rows by key instead of the HNSW index.
    assert prepared and all(generic == 0 and custom > 0 for generic, custom in prepared)
