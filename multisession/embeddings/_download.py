"""Fetching the default model's ONNX files when a plain ``pip install`` brought none.

The weights are not a dependency (the only PyPI package carrying them declares torch),
so a plain install has no model, and search would run keyword-only without the user
knowing why. When nothing is found on disk, the default embedder fetches the archive
Chroma publishes for its own default embedding function (the same all-MiniLM-L6-v2
export, checked against the same sha256 Chroma checks), once per machine, into the
multisession cache. The download is bounded: every connect and read times out, and a
deadline caps the whole transfer, so a silent proxy cannot hang a process at start.
The archive is verified before anything is unpacked, and unpacked into a temporary
directory renamed into place, so a reader never sees part of a model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from multisession.embeddings._model_files import build_lock, cache_root
from multisession.errors import ConfigurationError

__all__ = [
    "MODEL_ARCHIVE_SHA256",
    "MODEL_URL",
    "OFFLINE_ENV",
    "SHA256_ENV",
    "URL_ENV",
    "download_model",
    "downloaded_dir",
]

#: Chroma's archive of all-MiniLM-L6-v2 (``ONNXMiniLM_L6_V2.MODEL_DOWNLOAD_URL``).
MODEL_URL = "https://chroma-onnx-models.s3.amazonaws.com/all-MiniLM-L6-v2/onnx.tar.gz"
#: Its sha256, as Chroma pins it (``ONNXMiniLM_L6_V2._MODEL_SHA256``).
MODEL_ARCHIVE_SHA256 = "913d7300ceae3b2dbc2c50d1de4baacab4be7b9380491c27fab7418616a16ec3"
#: Set to 1 to never download (air-gapped machines, tests).
OFFLINE_ENV = "MULTISESSION_OFFLINE"
#: A mirror of the archive (a company proxy, a local server), and its sha256 when the
#: mirror serves another build of the model.
URL_ENV = "MULTISESSION_MODEL_URL"
SHA256_ENV = "MULTISESSION_MODEL_SHA256"

_FOLDER = "all-MiniLM-L6-v2"
_CHUNK = 1 << 16


def downloaded_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where a downloaded model lives: ``<cache>/all-MiniLM-L6-v2/onnx``."""
    return cache_root(cache_dir) / _FOLDER / "onnx"


def download_model(
    *,
    url: str | None = None,
    sha256: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout: float = 20.0,
    deadline: float = 600.0,
    progress: bool | None = None,
) -> Path:
    """Download and unpack the default model, once per machine; return its directory.

    Args:
        url: The ``.tar.gz`` holding an ``onnx/`` folder with ``model.onnx`` and
            ``tokenizer.json``; default ``$MULTISESSION_MODEL_URL``, else Chroma's.
        sha256: The archive's expected sha256; default ``$MULTISESSION_MODEL_SHA256``,
            else the sha256 Chroma pins.
        cache_dir: See :func:`~multisession.embeddings._model_files.cache_root`.
        timeout: Seconds any connect or read may take.
        deadline: Seconds the whole transfer may take.
        progress: Show a progress bar on stderr; by default when stderr is a terminal.

    Returns:
        The directory holding the model, as :func:`downloaded_dir` names it.

    Raises:
        ConfigurationError: The download failed, timed out, or its checksum is wrong;
            the message names the cause.
    """
    url = url or os.environ.get(URL_ENV) or MODEL_URL
    sha256 = sha256 or os.environ.get(SHA256_ENV) or MODEL_ARCHIVE_SHA256
    target = downloaded_dir(cache_dir)
    if _complete(target):
        return target
    with build_lock(target):
        if _complete(target):
            return target  # another process downloaded it meanwhile
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
            archive = Path(scratch) / "onnx.tar.gz"
            _fetch(url, archive, sha256, timeout, deadline, progress)
            unpacked = Path(scratch) / "unpacked"
            _unpack(archive, unpacked)
            source = unpacked / "onnx"
            if not _complete(source):
                raise ConfigurationError(
                    f"the archive at {url} holds no onnx/model.onnx with onnx/tokenizer.json"
                )
            if target.exists():
                shutil.rmtree(target)  # an incomplete earlier copy
            os.replace(source, target)
    return target


def _complete(directory: Path) -> bool:
    return (directory / "model.onnx").is_file() and (directory / "tokenizer.json").is_file()


def _fetch(
    url: str, archive: Path, sha256: str, timeout: float, deadline: float, progress: bool | None
) -> None:
    import httpx
    from tqdm import tqdm

    digest = hashlib.sha256()
    stop_at = time.monotonic() + deadline
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with (
            httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response,
            archive.open("wb") as stream,
        ):
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc="all-MiniLM-L6-v2",
                disable=not show,
            ) as bar:
                for block in response.iter_bytes(_CHUNK):
                    if time.monotonic() > stop_at:
                        raise ConfigurationError(
                            f"downloading {url} took longer than {deadline:.0f} s"
                        )
                    stream.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except httpx.HTTPError as error:
        raise ConfigurationError(f"could not download {url}: {error}") from error
    if digest.hexdigest() != sha256:
        raise ConfigurationError(
            f"the file downloaded from {url} has sha256 {digest.hexdigest()}, not {sha256}: "
            "a corrupted download or a different file; nothing was kept"
        )


def _unpack(archive: Path, destination: Path) -> None:
    with tarfile.open(archive, mode="r:gz") as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(destination, filter="data")
            return
        root = destination.resolve()
        for member in tar.getmembers():  # the checks filter="data" makes on 3.12
            resolved = (destination / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not resolved.is_relative_to(root):
                raise ConfigurationError(f"unsafe entry {member.name!r} in {archive.name}")
        tar.extractall(destination)  # noqa: S202 - every member was checked above
