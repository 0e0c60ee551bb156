"""Where an engine's stores live: the directory layout and what replaces it."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest

from multisession import ConfigurationError
from multisession.storage import layout as layout_module
from multisession.storage.layout import open_stores


def test_a_directory_holds_both_embedded_stores(store_dir: Path, minilm: Any) -> None:
    embedder, store, vectors = open_stores(store_dir, None, None, lambda: minilm)
    try:
        assert embedder is minilm and vectors is not None
        assert (store_dir / "memory.db").is_file()
        assert not (store_dir / "chroma").exists()  # Chroma opens on first use
        assert vectors.ids("someone") == set()
        assert not (store_dir / "chroma").exists()  # nothing written: still not opened
        assert store.recorded_embedder() == f"{minilm.name} (dimension {minilm.dimension})"
    finally:
        store.close()
        vectors.close()


def test_keyword_only_opens_no_vector_index(store_dir: Path) -> None:
    embedder, store, vectors = open_stores(store_dir, None, None, lambda: None)
    store.close()
    assert (embedder, vectors) == (None, None)
    assert not (store_dir / "chroma").exists()


def test_urls_replace_the_directory(tmp_path: Path, store_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    _, store, _ = open_stores(store_dir, url, None, lambda: None)
    store.close()
    assert (tmp_path / "elsewhere.db").is_file() and not store_dir.exists()


def test_a_missing_location_is_reported_before_the_embedder_loads(minilm: Any) -> None:
    asked: list[bool] = []

    def resolve() -> Any:
        asked.append(True)
        return minilm

    with pytest.raises(ConfigurationError, match="give a directory"):
        open_stores(None, None, None, resolve)
    assert asked == []
    with pytest.raises(ConfigurationError, match="vector search needs vector_url"):
        open_stores(None, "sqlite://", None, resolve)


def test_layout_docstring_example_runs() -> None:
    assert doctest.testmod(layout_module).failed == 0
