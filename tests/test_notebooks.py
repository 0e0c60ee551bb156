"""The notebooks run from top to bottom and show what they say they show."""

from __future__ import annotations

import re
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebooks run in; `make test` installs it)
import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


def execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[NotebookNode]:
    """Run a notebook in a fresh python3 kernel; return the outputs of its code cells."""
    # Jupyter, IPython and matplotlib keep runtime files, profiles and caches here, and
    # the notebooks' temporary stores go under TMPDIR.
    for variable in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert notebook.metadata.kernelspec.name == "python3"
    assert all(not cell.get("outputs") for cell in notebook.cells), "saved with outputs"
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )

    client.execute()

    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    errors = [output for output in outputs if output.output_type == "error"]
    assert errors == []
    return outputs


def printed(outputs: list[NotebookNode]) -> str:
    return "".join(
        output.text
        for output in outputs
        if output.output_type == "stream" and output.name == "stdout"
    )


def section(text: str, start: str, end: str) -> list[str]:
    """The lines printed between two markers."""
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n").splitlines()


@pytest.mark.slow
def test_quickstart_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = printed(execute("quickstart.ipynb", tmp_path, monkeypatch))

    assert "top hit: I'm allergic to peanuts" in text
    assert "after:  My name is Alice and I work at Globex as a designer" in text
    # Contradicting preferences: a table header, then the hits, best first.
    newest_wins = section(text, "temporal weighting on (default):\n", "\n\n")
    oldest_wins = section(text, "temporal weighting off:\n", "leaked:")
    assert newest_wins[1].endswith("I prefer the red theme")
    assert newest_wins[2].endswith("I prefer the blue theme")
    assert oldest_wins[1].endswith("I prefer the blue theme")
    assert "leaked: 0 of Alice's 6 memories" in text
    assert "resume mode: fresh_start" in text
    budget = re.search(r"prompt: (\d+) tokens of a (\d+)-token budget", text)
    assert budget is not None
    assert 0 < int(budget[1]) <= int(budget[2])
    memories = section(text, "Relevant memories:\n", "\n\n")
    assert "I'm allergic to peanuts" in memories[1]
    assert "I'm hosting a dinner party on Saturday for eight people" in memories[0]
    assert "deleted: 7" in text
    assert "alice's memories now: []" in text
    assert "users left: ['bob']" in text


@pytest.mark.slow
def test_retrieval_explained_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = execute("retrieval_explained.ipynb", tmp_path, monkeypatch)
    text = printed(outputs)

    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(figures) >= 2
    by_hand = re.search(r"by hand:\s+(\S+)", text)
    breakdown = re.search(r"breakdown:\s+(\S+)", text)
    assert by_hand is not None and breakdown is not None
    assert by_hand[1] == breakdown[1]
    assert "1 / (60 + 3) + 1 / (60 + 1) = 0.0322664585" in text
    assert "all scores match" in text
    assert "'User set the phone to dark mode': vector only at rank 6 -> fused rank 9" in text
    off = section(text, "temporal weighting off:\n", "temporal weighting on")
    on = section(text, "temporal weighting on (default):\n", "orders differ")
    assert [line.split(")  ")[-1] for line in on] != [line.split(")  ")[-1] for line in off]
    assert on[0].endswith("User switched to the red theme")
    assert off[1].endswith("User liked the blue theme")
    assert off[2].endswith("User switched to the red theme")
    assert "the allergy is at rank 1 with w = 0.05, at rank 4 with w = 1" in text


@pytest.mark.slow
def test_langchain_quickstart_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = printed(execute("langchain_quickstart.ipynb", tmp_path, monkeypatch))
    # The agent's second session recalls the first, and only its own user's items.
    assert 'recalled: ["allergic to peanuts"]' in text
    assert "agent: No peanuts tonight, then." in text
    assert "namespaces: [('memories', 'alice'), ('memories', 'bob')]" in text
    assert "I'm allergic to peanuts" in text
    assert "How about a green curry, made without peanuts?" in text


@pytest.mark.slow
def test_llamaindex_quickstart_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = printed(execute("llamaindex_quickstart.ipynb", tmp_path, monkeypatch))
    # The second session's system message carries what the first one learned.
    assert "peanut" in text.lower()
