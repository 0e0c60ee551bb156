"""A missing optional package raises an ImportError naming the extra that installs it.

Each case runs in a fresh interpreter where the package is made unimportable (a
``None`` entry in ``sys.modules``, as Python documents for blocking an import).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(
    ("blocked", "statement", "extra"),
    [
        (["langchain_core"], "import langchain_multisession", "langchain"),
        (
            ["langchain", "langchain.agents"],
            "from langchain_multisession import MultiSessionMiddleware",
            "langchain-agents",
        ),
        (
            ["langgraph", "langgraph.store", "langgraph.store.base"],
            "from langchain_multisession import MultiSessionStore",
            "langchain-agents",
        ),
        (["llama_index", "llama_index.core"], "import llamaindex_multisession", "llamaindex"),
    ],
)
def test_a_missing_package_names_its_extra(blocked: list[str], statement: str, extra: str) -> None:
    script = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
    result = subprocess.run(
        [sys.executable, "-c", script + statement],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError:")
    assert f"pip install 'multisession[{extra}]'" in last_line
