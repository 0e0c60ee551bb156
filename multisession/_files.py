"""Writing a file whole: readers see the old file or the complete new one, never a part.

Two callers need it: the CLI's ``export`` (a person's data, so readable by its owner
only) and the embedder's cache of built ``model.onnx`` files (shared, so readable by
all). A crash or a full disk in the middle of a plain ``write_bytes`` would leave a
truncated file that the next reader takes for a whole one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(target: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``target`` with ``data`` in one step.

    The bytes go to a temporary file in the same directory (so the final rename never
    crosses file systems), are flushed and fsynced, get ``mode``, and the file is then
    renamed over ``target`` with :func:`os.replace`. On any failure, interruption
    included, the temporary file is removed and ``target`` is left as it was.

    Args:
        target: The file to write; its directory must exist.
        data: The whole content.
        mode: Permission bits of the new file; owner-only by default.

    Raises:
        OSError: The directory is missing or not writable, or the disk is full.
    """
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
