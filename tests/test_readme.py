"""Every code block in the README runs.

Python blocks run as scripts; the blocks that use PostgreSQL (with pgvector, or with a
Chroma server) run against the servers the test suite starts on loopback. Shell blocks
run with bash and the installed ``multisession`` command. The first block, the two
``make`` commands, is what CI itself runs.
"""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)
# The service's block starts a server: tests/server/test_readme_service.py runs it.
SHELL_BLOCKS = [
    block
    for block in re.findall(r"```bash\n(.*?)```", TEXT, re.S)
    if "multisession serve" not in block
]
ALL_BLOCKS = re.findall(r"```(\w*)\n.*?```", TEXT, re.S)
SERVER_URLS = ("postgresql+psycopg://user:password@db-host/memory", "http://chroma-host:8000")


def test_readme_opens_with_the_two_commands_and_has_only_runnable_blocks() -> None:
    assert TEXT.split("```")[1].strip().splitlines() == [
        "bash",
        "make demo   # sets everything up, then runs the demo on the embedded, offline defaults",
        "make test   # sets everything up, then runs the whole test suite",
    ]
    assert set(ALL_BLOCKS) <= {"python", "bash"}, "a block of another kind would not be run"
    assert len(BLOCKS) >= 4 and len(SHELL_BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    code = BLOCKS[index]
    if SERVER_URLS[0] in code and SERVER_URLS[1] in code:
        code = code.replace(SERVER_URLS[0], request.getfixturevalue("postgres_url"))
        code = code.replace(SERVER_URLS[1], request.getfixturevalue("chroma_url"))
    elif SERVER_URLS[0] in code:  # PostgreSQL alone: with pgvector
        code = code.replace(SERVER_URLS[0], request.getfixturevalue("pgvector_url"))
    script = tmp_path / f"block_{index}.py"
    script.write_text(code, encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")


@pytest.mark.parametrize("index", range(1, len(SHELL_BLOCKS)))
def test_readme_shell_block_runs(index: int, tmp_path: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MULTISESSION_STORE", None)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", SHELL_BLOCKS[index]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "I'm allergic to peanuts" in result.stdout
    assert (tmp_path / "alice.json").exists() and (tmp_path / "memory-store").is_dir()
