"""What pyproject.toml promises: extras that match the code, the version, the CLI's extra."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import multisession

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPOSITORY = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# `rich` cannot be imported, as if the `cli` extra had not been installed.
WITHOUT_RICH = """
import sys

class NoRich:
    def find_spec(self, name, path=None, target=None):
        if name == "rich" or name.startswith("rich."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoRich())
for loaded in [name for name in sys.modules if name == "rich" or name.startswith("rich.")]:
    del sys.modules[loaded]
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_RICH + code], capture_output=True, text=True, timeout=120
    )


def test_the_command_without_rich_names_the_extra_in_one_line() -> None:
    # What the `multisession` console script runs: multisession.cli:main.
    result = _run("from multisession.cli import main\nsys.exit(main(['--help']))")

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: the multisession command needs rich: pip install 'multisession[cli]'\n"
    )


def test_the_library_needs_no_rich() -> None:
    result = _run(
        "import multisession, multisession.engine, multisession.extraction.recording\nprint('ok')"
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_rich_is_in_the_cli_extra_only() -> None:
    extras = PROJECT["optional-dependencies"]

    assert not [dep for dep in PROJECT["dependencies"] if dep.startswith("rich")]
    assert extras["cli"] == ["rich>=13"]
    assert PROJECT["scripts"] == {"multisession": "multisession.cli:main"}


def test_all_installs_every_extra_but_dev() -> None:
    extras = PROJECT["optional-dependencies"]
    (everything,) = extras["all"]
    listed = re.fullmatch(r"multisession\[(.+)\]", everything)

    assert listed is not None
    assert sorted(listed.group(1).split(",")) == sorted(set(extras) - {"all", "dev"})


def test_no_extra_promises_a_backend_the_code_lacks() -> None:
    # Each backend's extra comes with the code that imports it.
    sources = "".join(
        path.read_text(encoding="utf-8") for path in (REPOSITORY / "multisession").rglob("*.py")
    )
    extras = PROJECT["optional-dependencies"]
    assert extras["redis"] == ["redis>=5"] and "import redis" in sources
    assert extras["postgres"] == ["psycopg[binary]>=3.1"]
    assert "redis-server" in (REPOSITORY / "Makefile").read_text(encoding="utf-8")


def test_the_readme_lists_every_extra() -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([a-z-]+)` \|", install, re.M)

    assert sorted(listed) == sorted(set(PROJECT["optional-dependencies"]) - {"dev"})
    assert "pip install 'multisession[cli]'" in readme


def test_license_is_an_spdx_expression() -> None:
    assert PROJECT["license"] == "Apache-2.0"


def test_version_comes_from_the_installed_distribution() -> None:
    assert multisession.__version__ == version("multisession")
