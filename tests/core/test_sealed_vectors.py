"""``seal_vectors``: an encrypted memory's vector is encrypted too, and kept out of Chroma.

A vector gives away the gist of its text, so with ``seal_vectors=True`` an encrypted
memory's vector is stored inside its sealed value, not in the ``embedding`` column,
and never sent to the vector index. The check is on the bytes: the stored vector's
float32 bytes appear in no file of the store (SQLite database and log, Chroma's
files), while an unencrypted memory's vector is found the same way (so the scan can
fail). The memory is still found: by meaning for a user searched exactly from SQL
(the vector is decrypted when the user is loaded), by keyword above that limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from multisession import MemoryEngine
from multisession.errors import ConfigurationError
from multisession.privacy.keys import MasterKey
from multisession.storage.encryption import sealed_vector

KEY = MasterKey.from_bytes(bytes(range(32)))
SECRET = "I was diagnosed with epilepsy last spring"
PUBLIC = ["I like green tea in the morning", "We are planning a trip to Lisbon in May"]


def store_bytes(root: Path) -> bytes:
    """Every file under the store's directory, concatenated."""
    return b"".join(path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file())


def stored_vectors(engine: MemoryEngine, user_id: str) -> dict[str, bytes]:
    """Each memory's stored vector as SQL holds it, sealed ones decrypted."""
    cipher = engine._store.cipher
    assert cipher is not None
    with engine._store.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, content, embedding, sealed FROM ms_memories WHERE user_id = :u"),
            {"u": user_id},
        ).all()
    found = {}
    for row in rows:
        if row.sealed is None:
            found[row.content] = bytes(row.embedding)
            continue
        fields = cipher.open(user_id, "ms_memories", row.id, bytes(row.sealed))
        assert row.embedding is None and "embedding" in fields
        vector = sealed_vector(fields)
        assert vector is not None
        found[fields["content"]] = vector
    return found


def open_engine(store: Path, minilm, **options) -> MemoryEngine:  # type: ignore[no-untyped-def]
    return MemoryEngine(store, embedder=minilm, encryption_key=KEY, seal_vectors=True, **options)


def test_a_sealed_vector_is_on_no_disk_and_still_found_by_meaning(tmp_path, minilm):
    store = tmp_path / "store"
    with open_engine(store, minilm) as engine:
        engine.add_many("alice", [SECRET, *PUBLIC])
        vectors = stored_vectors(engine, "alice")
    on_disk = store_bytes(store)
    assert vectors[SECRET][:64] not in on_disk
    assert all(vectors[text][:64] in on_disk for text in PUBLIC)  # the scan can fail

    with open_engine(store, minilm) as engine:
        # No word in common with the memory: only its (decrypted) vector can find it.
        hits = engine.search("alice", "a neurological condition", k=3)
        assert hits[0].memory.content == SECRET
        changed = engine.update("alice", hits[0].memory.id, metadata={"source": "chat"})
        assert changed.content == SECRET
    with open_engine(store, minilm) as engine:
        assert engine.search("alice", "a neurological condition", k=3)[0].memory.content == SECRET
        assert stored_vectors(engine, "alice")[SECRET] == vectors[SECRET]
    assert vectors[SECRET][:64] not in store_bytes(store)


def test_above_the_exact_limit_a_sealed_vector_stays_out_of_chroma(tmp_path, minilm):
    store = tmp_path / "store"
    with open_engine(store, minilm, exact_vector_limit=1) as engine:
        engine.add_many("bob", [SECRET, *PUBLIC])
        vectors = stored_vectors(engine, "bob")
        engine.repair()  # re-indexing what Chroma lacks must not bring it in either
        assert [hit.memory.content for hit in engine.search("bob", "epilepsy", k=1)] == [SECRET]
        assert engine.search("bob", "a hot drink", k=1)[0].memory.content == PUBLIC[0]
    chroma = store_bytes(store / "chroma")
    assert chroma and vectors[SECRET][:64] not in store_bytes(store)
    assert any(vectors[text][:64] in chroma for text in PUBLIC)  # the scan can fail


def test_without_seal_vectors_the_vector_is_stored_as_before(tmp_path, minilm):
    store = tmp_path / "store"
    with MemoryEngine(store, embedder=minilm, encryption_key=KEY) as engine:
        engine.add("carol", SECRET)
        with engine._store.engine.connect() as conn:
            blob = conn.execute(sa.text("SELECT embedding FROM ms_memories")).scalar_one()
    assert blob is not None and bytes(blob)[:64] in store_bytes(store)


def test_seal_vectors_needs_a_key(tmp_path):
    with pytest.raises(ConfigurationError, match="seal_vectors=True .* needs a master key"):
        MemoryEngine(tmp_path / "store", embedder=None, seal_vectors=True)
    assert not (tmp_path / "store").exists()


def test_seal_vectors_is_refused_with_pgvector(pgvector_url, minilm):
    # pgvector builds its index from the vector column: nothing could keep a vector out.
    with pytest.raises(ConfigurationError, match="cannot keep vectors out of pgvector"):
        MemoryEngine(sql_url=pgvector_url, embedder=minilm, encryption_key=KEY, seal_vectors=True)
    with MemoryEngine(sql_url=pgvector_url, embedder=minilm, encryption_key=KEY) as engine:
        assert engine.search("nobody", "anything") == []  # the store was left usable
