"""Built model files: where they are cached, and building each one once per machine.

A process that finds its built model in the cache must start fast, so this module needs
neither ``onnx`` nor the quantizer: naming a cached file only takes the graph version
(kept here, not in the graph builder, whose import costs ``onnx``'s 0.7 s). A process
that finds no file builds it under a file lock beside the target, so processes started
together on a fresh cache directory (a new container, a pool of workers) build it once
and the others wait for that file instead of each building their own.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from multisession._files import write_atomically

__all__ = [
    "CACHE_DIR_ENV",
    "GRAPH_VERSION",
    "build_lock",
    "build_once",
    "built_model_path",
    "cache_root",
]

logger = logging.getLogger("multisession")

CACHE_DIR_ENV = "MULTISESSION_CACHE_DIR"

#: Bumped whenever the emitted graph changes, so cached files built by an older
#: version are never reused.
GRAPH_VERSION = 1

# Building takes seconds; a holder that takes longer than this is presumed stuck, and
# the waiter builds on its own rather than hang.
_LOCK_TIMEOUT_SECONDS = 600.0


def cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    """The cache: ``cache_dir``, else ``$MULTISESSION_CACHE_DIR``, else ~/.cache/multisession."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    return Path.home() / ".cache" / "multisession"


def built_model_path(
    digest: str, cache_dir: str | os.PathLike[str] | None, *, quantized: bool = False
) -> Path:
    """Where the model built from weights with sha256 ``digest`` is cached.

    Args:
        digest: The sha256 of the source weights (``model.safetensors`` or ``model.onnx``).
        cache_dir: See :func:`cache_root`.
        quantized: The int8 file instead of the float32 one.

    Returns:
        The path, whether or not the file exists yet.
    """
    suffix = "-int8" if quantized else ""
    return cache_root(cache_dir) / f"bert-{digest[:20]}-graph{GRAPH_VERSION}{suffix}.onnx"


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold ``<target>.lock`` while making ``target``; without a writable directory, hold nothing.

    An unwritable cache is reported once, by the write that follows, not here.
    """
    from filelock import FileLock, Timeout

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{target}.lock", timeout=_LOCK_TIMEOUT_SECONDS, mode=0o666)
        lock.acquire()
    except Timeout:
        logger.warning("Another process has been building %s for too long; building here", target)
        yield
        return
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


def build_once(
    target: Path,
    build: Callable[[], bytes],
    load: Callable[[Path | bytes], object],
) -> object:
    """Load ``target``, building it first (once per machine) when it is missing or unloadable.

    Args:
        target: The cached file.
        build: Returns the file's bytes; called at most once, under the lock.
        load: Opens a file or bytes; raises :class:`~multisession.errors.ConfigurationError`
            when they are unusable.

    Returns:
        What ``load`` returned.

    Raises:
        ConfigurationError: The freshly built bytes cannot be loaded either.
    """
    from multisession.errors import ConfigurationError

    broken: tuple[int, int, int] | None = None
    if target.is_file():
        try:
            return load(target)
        except ConfigurationError:
            logger.warning("Rebuilding %s: onnxruntime could not load it", target)
            broken = _stat_key(target)
    with build_lock(target):
        current = _stat_key(target)
        if current is not None and current != broken:
            # Another process built it while this one waited for the lock.
            try:
                return load(target)
            except ConfigurationError:
                logger.warning("Rebuilding %s: onnxruntime could not load it", target)
        started = time.perf_counter()
        model = build()
        logger.info("Built %s in %.1f s", target.name, time.perf_counter() - started)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, model, mode=0o644)  # a cache other users may share
        except OSError as error:
            logger.warning("Could not cache %s (%s); the model stays in memory only", target, error)
            return load(model)
    return load(target)
