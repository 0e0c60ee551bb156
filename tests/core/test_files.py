"""Tests for multisession._files: a file is replaced whole or not at all."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from multisession._files import write_atomically


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_holds_the_data_and_is_private_by_default(tmp_path: Path) -> None:
    target = tmp_path / "export.json"

    write_atomically(target, b'{"user_id": "alice"}\n')

    assert target.read_bytes() == b'{"user_id": "alice"}\n'
    assert [path.name for path in tmp_path.iterdir()] == ["export.json"]
    if sys.platform != "win32":
        assert _mode(target) == 0o600


def test_existing_file_is_replaced_with_the_mode_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"an older, longer model file")
    target.chmod(0o600)

    write_atomically(target, b"new", mode=0o644)

    assert target.read_bytes() == b"new"
    if sys.platform != "win32":
        assert _mode(target) == 0o644


def test_failure_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "in-the-way"
    target.mkdir()
    (target / "kept").write_text("untouched")

    with pytest.raises(OSError):
        write_atomically(target, b"data")  # a file cannot replace a non-empty directory

    assert sorted(path.name for path in tmp_path.iterdir()) == ["in-the-way"]
    assert (target / "kept").read_text() == "untouched"


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "missing" / "file", b"data")

    assert list(tmp_path.iterdir()) == []
