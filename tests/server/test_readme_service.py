"""The README's "Run it as a service" block runs as written, against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import _free_port

README = Path(__file__).parents[2] / "README.md"


def test_readme_service_block_runs(tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("## Run it as a service", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    script = block.group(1).replace("8000", str(_free_port()))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MULTISESSION_STORE", None)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    stored, found = (json.loads(line) for line in re.findall(r"^\{.*\}$", result.stdout, re.M))
    assert stored["user_id"] == "alice" and stored["content"] == "I am allergic to peanuts"
    [hit] = found["hits"]
    assert hit["memory"]["id"] == stored["id"] and hit["scores"]["final_score"] > 0
