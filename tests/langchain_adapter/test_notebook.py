"""The LangChain quickstart notebook runs from top to bottom."""

from __future__ import annotations

from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebook runs in; `make test` installs it)
import nbclient
import nbformat
import pytest

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "langchain_quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [output for output in outputs if output.output_type == "error"]
    printed = "".join(output.get("text", "") for output in outputs)
    assert "I'm allergic to peanuts" in printed
    assert "How about a green curry, made without peanuts?" in printed
