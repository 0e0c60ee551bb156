"""tiktoken vocabularies read from verified local files, and downloaded only when asked.

tiktoken's own loader is not used, for two reasons: it fetches its files with no
timeout, so a silent proxy makes it hang forever, and when a cached file fails its hash
check it deletes the file before downloading again. Here a file is used only if it
carries tiktoken's cache name and the sha256 tiktoken pins; a file that fails is skipped
and left in place; a download happens only when the caller allows it, has a deadline,
and is verified before it is saved. The :class:`tiktoken.Encoding` is then built from
the file's bytes, so tiktoken's download code is never entered and no environment
variable is changed. The folders searched, in order, are listed in
:mod:`multisession.context.tokens`.

Loading o200k_base takes about 0.2 s, so each request is answered once per process
(:func:`load_encoding` remembers its answer, failures included) and counters share the
encoding.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._files import write_atomically
from ..errors import ConfigurationError

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "ENCODINGS",
    "TIKTOKEN_DIR_ENV",
    "EncodingSpec",
    "forget_encodings",
    "load_encoding",
]

TIKTOKEN_DIR_ENV = "MULTISESSION_TIKTOKEN_DIR"
"""Environment variable naming folders that hold tiktoken files."""

_logger = logging.getLogger("multisession")


@dataclass(frozen=True)
class EncodingSpec:
    """Everything needed to rebuild one of OpenAI's encodings from its rank file."""

    name: str
    url: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]

    @property
    def file_name(self) -> str:
        """tiktoken's cache name for the file: the sha1 of its URL."""
        return hashlib.sha1(self.url.encode()).hexdigest()


# Copied from tiktoken_ext.openai_public (tiktoken 0.14.0): tiktoken offers no way to get
# a pattern without loading the file. The tests compare them with the installed
# tiktoken's own encodings.
ENCODINGS: dict[str, EncodingSpec] = {
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=(
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|"""
            r""" ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        ),
        special_tokens={
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": EncodingSpec(
        name="o200k_base",
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*"""
                r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"""
                r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}

# functools.cache alone lets threads that miss together each load a copy; holding this
# lock around the cached call makes the first load the only one.
_LOAD_LOCK = threading.Lock()


def load_encoding(
    name: str,
    *,
    cache_dirs: Sequence[str | os.PathLike[str]] = (),
    allow_download: bool = False,
    timeout: float = 10.0,
) -> tuple[tiktoken.Encoding, str]:
    """Return the encoding ``name`` built from a verified file, and where it came from.

    The answer to each request (these four arguments) is remembered for the process,
    a failure too: asking again, as every prompt build does, never searches the disk or
    the network a second time.

    Args:
        name: ``"cl100k_base"`` or ``"o200k_base"``.
        cache_dirs: Folders to search before the standard ones.
        allow_download: Download the file (verified, with a deadline) when no verified
            file is on disk, and save it for next time.
        timeout: Seconds the whole download may take.

    Returns:
        The encoding and its source: the file's path, or the URL it was downloaded from.

    Raises:
        ConfigurationError: No verified file was found (and none could be downloaded), or
            the installed tiktoken cannot build the encoding. The message names the fix.
    """
    folders = tuple(Path(folder) for folder in cache_dirs)
    with _LOAD_LOCK:
        outcome = _load(name, folders, allow_download, timeout)
    if isinstance(outcome, str):
        raise ConfigurationError(outcome)
    return outcome


def forget_encodings() -> None:
    """Forget every loaded encoding and every failed search, as in a new process."""
    with _LOAD_LOCK:
        _load.cache_clear()


@functools.cache
def _load(
    name: str, cache_dirs: tuple[Path, ...], allow_download: bool, timeout: float
) -> tuple[tiktoken.Encoding, str] | str:
    """The encoding and its source, or why there is none (an error message)."""
    import tiktoken  # importable: the name was resolved with tokens.encoding_for_model

    spec = ENCODINGS[name]
    folders = _candidate_dirs(cache_dirs)
    corrupted: list[Path] = []
    verified = _read_verified(spec, folders, corrupted)
    if verified is not None:
        data, path = verified
        source = str(path)
    elif allow_download:
        try:
            data = _download(spec, timeout)
        except ConfigurationError as error:
            return str(error)
        source = spec.url
    else:
        searched = ", ".join(str(folder) for folder in folders)
        skipped = "".join(
            f"; skipped {path}: its sha256 is not {spec.sha256}" for path in corrupted
        )
        return (
            f"no verified tiktoken file for {spec.name} (a file named {spec.file_name}) "
            f"in: {searched}{skipped}. Fix: pip install 'llama-index-core>=0.13' (it "
            f"ships the files), or set {TIKTOKEN_DIR_ENV} to a folder holding "
            f"{spec.file_name}"
        )
    try:
        encoding = tiktoken.Encoding(
            spec.name,
            pat_str=spec.pat_str,
            mergeable_ranks=_parse_ranks(data),
            special_tokens=dict(spec.special_tokens),
        )
    except ValueError as error:  # an old tiktoken whose regex engine lacks the syntax
        return f"this tiktoken cannot build {spec.name} ({error}): pip install 'tiktoken>=0.8'"
    return encoding, source


def _candidate_dirs(cache_dirs: tuple[Path, ...]) -> list[Path]:
    found = list(cache_dirs)
    found += [
        Path(entry) for entry in os.environ.get(TIKTOKEN_DIR_ENV, "").split(os.pathsep) if entry
    ]
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(variable):
            found.append(Path(os.environ[variable]))
    found += _llama_index_dirs()
    found.append(Path(tempfile.gettempdir()) / "data-gym-cache")
    unique: list[Path] = []
    for folder in found:
        if folder not in unique:
            unique.append(folder)
    return unique


def _llama_index_dirs() -> list[Path]:
    # find_spec on the top-level namespace package imports nothing (importing
    # llama_index.core takes about a second); its folders are where core/ lives.
    try:
        spec = importlib.util.find_spec("llama_index")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [
        Path(location) / "core" / "_static" / "tiktoken_cache"
        for location in spec.submodule_search_locations
    ]


def _read_verified(
    spec: EncodingSpec, folders: Sequence[Path], corrupted: list[Path]
) -> tuple[bytes, Path] | None:
    """Return the first file whose hash matches; collect the ones that do not."""
    for folder in folders:
        path = folder / spec.file_name
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() == spec.sha256:
            return data, path
        corrupted.append(path)
    return None


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    # The file's hash is verified, so its format (one "base64 rank" pair per line) is
    # known; splitting it in one go is about three times faster than tiktoken's loop.
    fields = data.split()
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))


def _download(spec: EncodingSpec, timeout: float) -> bytes:
    # Imported here: they cost 10 ms and are rarely needed.
    import http.client
    import urllib.request

    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"download took longer than {timeout} s")
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise ConfigurationError(
            f"could not download {spec.url} ({error}). Fix: pip install "
            f"'llama-index-core>=0.13', or set {TIKTOKEN_DIR_ENV} to a folder holding "
            f"{spec.file_name}"
        ) from error
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise ConfigurationError(f"the file downloaded from {spec.url} failed its hash check")
    _save_download(spec, data)
    return data


def _save_download(spec: EncodingSpec, data: bytes) -> None:
    configured = [
        entry for entry in os.environ.get(TIKTOKEN_DIR_ENV, "").split(os.pathsep) if entry
    ]
    if configured:
        folder = Path(configured[0])
    elif "TIKTOKEN_CACHE_DIR" in os.environ or "DATA_GYM_CACHE_DIR" in os.environ:
        folder_name = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
        if not folder_name:  # tiktoken reads an empty value as "do not cache"
            return
        folder = Path(folder_name)
    else:
        folder = Path(tempfile.gettempdir()) / "data-gym-cache"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / spec.file_name, data, mode=0o644)  # tiktoken's shared cache
    except OSError as error:
        _logger.debug("could not save %s to %s: %s", spec.name, folder, error)
