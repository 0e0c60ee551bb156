"""Nothing acknowledged is lost: killed writers, a failing vector side, other processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import chromadb

from multisession import MemoryEngine, RetrievalConfig
from multisession.storage.indexed_users import IndexedUsers
from multisession.storage.sql_store import SQLStore
from multisession.storage.vectors import member_collection

SEMANTIC = RetrievalConfig(bm25_weight=0)


def vector_ids(store_dir: Path, user_id: str) -> set[str]:
    """The user's ids in their collection, found by the keyed tag the store gives."""
    if not (store_dir / "chroma" / "chroma.sqlite3").exists():
        return set()
    store = SQLStore(f"sqlite:///{store_dir / 'memory.db'}")
    try:
        owner = IndexedUsers(store).owner(user_id)
    finally:
        store.close()
    client = chromadb.PersistentClient(path=str(store_dir / "chroma"))
    try:
        collection = client.get_collection(member_collection(owner))
    except Exception:
        return set()
    return set(collection.get(where={"owner": owner}, include=[])["ids"])


WRITER = textwrap.dedent(
    """
    import json, sys
    from multisession import MemoryEngine
    engine = MemoryEngine(sys.argv[1], exact_vector_limit=0)
    for batch in range(1000):
        memories = engine.add_many(
            "alice", [f"batch {batch} note {i}: fox {batch * 50 + i}" for i in range(50)]
        )
        print(json.dumps([m.id for m in memories]), flush=True)
    """
)


def test_writer_killed_mid_batch_loses_nothing_acknowledged(store_dir, minilm, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    with subprocess.Popen(
        [sys.executable, str(script), str(store_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    ) as process:
        assert process.stdout is not None
        acknowledged: list[str] = []
        for _ in range(3):
            acknowledged += json.loads(process.stdout.readline())
        time.sleep(0.05)  # land somewhere inside a later batch
        process.send_signal(signal.SIGKILL)
        acknowledged += [
            memory_id
            for line in process.stdout.read().splitlines()
            for memory_id in json.loads(line)
        ]
    assert process.returncode == -signal.SIGKILL

    # Users above the exact-search limit (0 here) have their vectors in Chroma as well.
    with MemoryEngine(store_dir, embedder=minilm, exact_vector_limit=0) as engine:  # repairs
        stored = {memory.id for memory in engine.list("alice", limit=100_000)}
        assert set(acknowledged) <= stored
        # Every row committed in SQL is in the vector index after reopening.
        assert engine.stats()["pending_vectors"] == 0
    assert vector_ids(store_dir, "alice") == stored


def test_memories_written_while_vectors_fail_are_repaired(
    store_dir, minilm, unreachable_embedder, clock
):
    with MemoryEngine(
        store_dir, embedder=unreachable_embedder, clock=clock, exact_vector_limit=0
    ) as engine:
        memory = engine.add("alice", "My passport expires in June 2027")
        assert engine.events["embedding_failed"] == 1
        assert engine.stats()["pending_vectors"] == 1
        # Acknowledged and searchable by keyword straight away.
        assert (
            engine.search("alice", "passport", config=RetrievalConfig(vector_weight=0))[0].memory.id
            == memory.id
        )
    assert vector_ids(store_dir, "alice") == set()

    with MemoryEngine(
        store_dir, embedder=minilm, clock=clock, repair_on_open=False, exact_vector_limit=0
    ) as engine:
        assert engine.search("alice", "when does my travel document expire", config=SEMANTIC) == []
        report = engine.repair()
        assert (report.reindexed, report.orphans_removed) == (1, 0)
        hits = engine.search("alice", "when does my travel document expire", config=SEMANTIC)
        assert [hit.memory.id for hit in hits] == [memory.id]
    assert vector_ids(store_dir, "alice") == {memory.id}


def test_repair_removes_vectors_of_deleted_memories(store_dir, minilm):
    with MemoryEngine(store_dir, embedder=minilm, exact_vector_limit=0) as engine:
        keep, orphan = engine.add_many("alice", ["I like tea", "I like coffee"])
    # A process that deleted the row in SQL but died before removing the vector.
    keyword_only = MemoryEngine(store_dir, embedder=None)
    keyword_only.delete("alice", orphan.id)
    keyword_only.close()
    assert vector_ids(store_dir, "alice") == {keep.id, orphan.id}
    # Searching through Chroma, which still holds the orphan.
    with MemoryEngine(store_dir, embedder=minilm, exact_vector_limit=0) as engine:
        # Never returned meanwhile: SQL decides what exists.
        assert [h.memory.id for h in engine.search("alice", "coffee", config=SEMANTIC)] == [keep.id]
        assert engine.repair().orphans_removed == 1
    assert vector_ids(store_dir, "alice") == {keep.id}


def test_keyword_index_catches_up_with_another_engine(store_dir, clock):
    reader = MemoryEngine(store_dir, embedder=None, clock=clock)
    writer = MemoryEngine(store_dir, embedder=None, clock=clock)
    first = reader.add("alice", "I grow tomatoes on my balcony")
    assert [h.memory.id for h in reader.search("alice", "tomatoes")] == [first.id]

    second = writer.add("alice", "I also grow basil and tomatoes")
    writer.update("alice", first.id, content="I grow chillies on my balcony")
    assert [h.memory.id for h in reader.search("alice", "tomatoes")] == [second.id]
    assert [h.memory.id for h in reader.search("alice", "chillies")] == [first.id]

    writer.delete("alice", second.id)
    assert reader.search("alice", "tomatoes basil") == []

    # The reader's own write after a foreign one must not hide the foreign one.
    writer.add("alice", "I compost kitchen scraps")
    reader.add("alice", "I water the plants at dawn")
    assert len(reader.search("alice", "compost kitchen")) == 1
    writer.delete_user("alice")
    reader.add("alice", "A new beginning in the garden")
    assert [h.memory.content for h in reader.search("alice", "garden balcony compost")] == [
        "A new beginning in the garden"
    ]
    reader.close()
    writer.close()


def test_keyword_index_sees_writes_of_another_process(store_dir, tmp_path):
    engine = MemoryEngine(store_dir, embedder=None)
    engine.add("alice", "I am learning Japanese")
    assert len(engine.search("alice", "Japanese")) == 1
    script = tmp_path / "other.py"
    script.write_text(
        "import sys\nfrom multisession import MemoryEngine\n"
        "e = MemoryEngine(sys.argv[1], embedder=None)\n"
        "e.add('alice', 'My Japanese teacher is called Sato')\n"
        "e.close()\n"
    )
    subprocess.run([sys.executable, str(script), str(store_dir)], check=True, env=os.environ.copy())
    assert sorted(h.memory.content for h in engine.search("alice", "Japanese teacher")) == [
        "I am learning Japanese",
        "My Japanese teacher is called Sato",
    ]
    engine.close()


def test_buffered_vectors_are_found_at_once_and_flushed_on_close(store_dir, minilm):
    # Vector-index search (exact search would answer from SQL's vectors): the buffer
    # must answer until the flush.
    with MemoryEngine(
        store_dir, embedder=minilm, vector_flush_seconds=3600, exact_vector_limit=0
    ) as engine:
        memory = engine.add("alice", "My locker code is 4471")
        assert engine.stats()["buffered_vectors"] == 1
        assert vector_ids(store_dir, "alice") == set()
        hits = engine.search("alice", "how do I open my locker", config=SEMANTIC)
        assert [hit.memory.id for hit in hits] == [memory.id]
        updated = engine.update("alice", memory.id, content="My bike lock code is 9912")
        hits = engine.search("alice", "bicycle lock combination", config=SEMANTIC)
        assert [hit.memory.id for hit in hits] == [updated.id]
        assert engine.stats()["pending_vectors"] == 1
    assert vector_ids(store_dir, "alice") == {memory.id}
    with MemoryEngine(
        store_dir, embedder=minilm, repair_on_open=False, exact_vector_limit=0
    ) as engine:
        assert engine.stats()["pending_vectors"] == 0
        hits = engine.search("alice", "bicycle lock combination", config=SEMANTIC)
        assert [hit.memory.id for hit in hits] == [memory.id]


def test_buffer_flushes_once_full(store_dir, minilm):
    with MemoryEngine(
        store_dir, embedder=minilm, vector_flush_size=3, exact_vector_limit=0
    ) as engine:
        engine.add("alice", "one")
        engine.add("alice", "two")
        assert vector_ids(store_dir, "alice") == set()
        engine.add("alice", "three")
        assert engine.stats()["buffered_vectors"] == 0
        assert len(vector_ids(store_dir, "alice")) == 3


def test_deleting_a_user_while_the_vector_server_is_down(own_chroma_server, store_dir, minilm):
    engine = MemoryEngine(
        embedder=minilm,
        sql_url=f"sqlite:///{store_dir}.db",
        vector_url=own_chroma_server.url,
        exact_vector_limit=0,
    )
    engine.add_many("alice", ["I live in Porto", "I like tea"])
    engine.flush_vectors()
    own_chroma_server.stop()
    assert engine.delete_user("alice") == 2  # SQL decides; the vectors wait for repair()
    assert engine.events["vector_delete_failed"] == 1
    assert not engine.has_user("alice")
    assert engine.search("alice", "Porto") == []
    engine.close()
