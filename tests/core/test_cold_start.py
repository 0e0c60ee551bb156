"""The first second of a process: what a fresh interpreter imports and builds.

Each test runs a fresh interpreter, since what matters is what a new process loads on
its way to a first answer: no ``onnx`` when the built model is cached, no ``chromadb``
until the vector index is written to, and one build of the model however many
processes start together on an empty cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from multisession import MemoryEngine

REPO_ROOT = Path(__file__).resolve().parents[2]


def _environment(cache_dir: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(PYTHONPATH=str(REPO_ROOT), MULTISESSION_CACHE_DIR=str(cache_dir))
    return environment


def _run(script: str, environment: dict[str, str], cwd: Path) -> dict[str, Any]:
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        check=True,
    )
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def test_first_search_with_a_cached_model_imports_neither_onnx_nor_chromadb(
    store_dir: Path, minilm: Any, onnx_cache: Path, tmp_path: Path
) -> None:
    with MemoryEngine(store_dir, embedder=minilm) as engine:
        engine.add("alice", "The dentist appointment moved to Friday")
        engine.add("alice", "The flight to Lisbon leaves at seven")
    script = f"""
        import json, sys
        from multisession import MemoryEngine
        # No timed flush: on a loaded machine importing chromadb at the write can take
        # longer than the flush interval, and the timer would write the vector first.
        engine = MemoryEngine({str(store_dir)!r}, vector_flush_seconds=600)
        hits = engine.search("alice", "when is the dentist?", k=1)
        seen = {{name: name in sys.modules for name in ("onnx", "chromadb")}}
        engine.add("alice", "The plumber comes on Monday")
        written = engine.flush_vectors()
        report = engine.repair()
        engine.close()
        print(json.dumps({{
            "embedder": engine.embedder.name,
            "hit": hits[0].memory.content,
            "before_writing": seen,
            "written": written,
            "chromadb_after_writing": "chromadb" in sys.modules,
            "onnx_after_writing": "onnx" in sys.modules,
        }}))
        """

    outcome = _run(script, _environment(onnx_cache), tmp_path)

    assert outcome == {
        "embedder": "all-MiniLM-L6-v2",
        "hit": "The dentist appointment moved to Friday",
        "before_writing": {"onnx": False, "chromadb": False},
        # A user searched exactly keeps their vectors in SQL alone: no Chroma at all.
        "written": 0,
        "chromadb_after_writing": False,
        "onnx_after_writing": False,
    }
    with MemoryEngine(store_dir, embedder=minilm) as engine:
        assert engine.repair().reindexed == 0  # nothing is missing from the vector index


def test_processes_started_together_on_an_empty_cache_build_the_model_once(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "fresh-cache"
    script = """
        import json, logging
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logger = logging.getLogger("multisession")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        from multisession import MiniLMEmbedder
        embedder = MiniLMEmbedder()
        vector = embedder.embed(["ok"])[0]
        print(json.dumps({
            "built": sum(r.getMessage().startswith("Built ") for r in records),
            "first": round(float(vector[0]), 5),
        }))
        """
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_environment(cache),
            cwd=tmp_path,
        )
        for _ in range(3)
    ]
    outcomes = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        outcomes.append(json.loads(stdout.strip().splitlines()[-1]))

    assert sum(outcome["built"] for outcome in outcomes) == 1
    assert len({outcome["first"] for outcome in outcomes}) == 1
    assert len(list(cache.glob("*.onnx"))) == 1


@pytest.mark.parametrize("location", ["chroma", "file:{store}/chroma"])
def test_an_embedded_vector_index_opens_on_first_use(
    store_dir: Path, minilm: Any, location: str
) -> None:
    from multisession.storage.vectors import ChromaVectorIndex

    store_dir.mkdir(parents=True, exist_ok=True)
    path = str(store_dir / "chroma") if location == "chroma" else location.format(store=store_dir)
    index = ChromaVectorIndex.open(path, embedder_name=minilm.name, dimension=minilm.dimension)
    index.key_owners_with(lambda user_id: f"keyed-{len(user_id)}")
    assert not (store_dir / "chroma").exists()

    index.upsert("bob", ["m1"], minilm.embed(["hello"]), [{"kind": "fact"}])

    assert (store_dir / "chroma").is_dir()
    assert index.ids("bob") == {"m1"}
    index.close()


def test_an_unused_vector_index_closes_without_opening(store_dir: Path, minilm: Any) -> None:
    from multisession.storage.vectors import ChromaVectorIndex

    index = ChromaVectorIndex.open(
        str(store_dir / "chroma"), embedder_name=minilm.name, dimension=minilm.dimension
    )

    index.close()

    assert not (store_dir / "chroma").exists()
