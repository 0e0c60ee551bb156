"""Running the ``multisession`` console script from the CLI tests: one way for all of them."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = Path(sys.executable).parent / "multisession"

Result = subprocess.CompletedProcess[str]


def console_env(columns: int = 200, **extra: str | None) -> dict[str, str]:
    """The test session's environment (sandboxed HOME and caches), no default store,
    tables ``columns`` wide; ``extra`` sets variables (None removes one)."""
    variables = dict(os.environ)
    variables.pop("MULTISESSION_STORE", None)
    variables["COLUMNS"] = str(columns)
    for name, value in extra.items():
        if value is None:
            variables.pop(name, None)
        else:
            variables[name] = value
    return variables


def run(env: dict[str, str], *args: object) -> Result:
    """Run the console script to the end; stdin is not a terminal."""
    return subprocess.run(
        [str(CLI), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def cli(env: dict[str, str], store: Path, command: str, *, embed: bool = False) -> Result:
    """``multisession --store STORE [--no-embed] COMMAND``, COMMAND split like a shell does."""
    return run(env, "--store", store, *([] if embed else ["--no-embed"]), *shlex.split(command))


def ok(result: Result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def as_json(result: Result) -> Any:
    return json.loads(ok(result))
