"""Write-side regular expressions compile on first use, and match as compiled ones do.

A process that only searches should not pay for the patterns of the worthiness filter,
the lifecycle's claim rules or the privacy detectors (about a tenth of a second of
every start); one that writes gets the same matches as before.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from multisession._patterns import lazy_compile

REPO_ROOT = Path(__file__).resolve().parents[2]

CASES = [
    (r"\b(?:my|our)\s+(?P<who>sister|brother)\b", 0, "My sister and our brother, my SISTER"),
    (r"(?i:\bbearer\s+)[A-Za-z0-9._~+/-]{20,}=*", 0, "auth: Bearer abcdefghijklmnopqrstuvwxyz="),
    (r"^\s*>.*$", re.MULTILINE, "> quoted\nplain\n  > again"),
    (r"\d{3}[ -]?\d{3}", re.IGNORECASE, "call 555-123 or 555 987 now"),
]


@pytest.mark.parametrize(("source", "flags", "text"), CASES)
def test_a_lazy_pattern_matches_like_the_compiled_one(source: str, flags: int, text: str) -> None:
    lazy, compiled = lazy_compile(source, flags), re.compile(source, flags)
    assert lazy.pattern == compiled.pattern
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in compiled.finditer(text)]
    assert lazy.findall(text) == compiled.findall(text)
    assert lazy.sub("#", text) == compiled.sub("#", text)
    assert lazy.subn("#", text) == compiled.subn("#", text)
    assert lazy.split(text) == compiled.split(text)
    found, expected = lazy.search(text), compiled.search(text)
    assert (found and found.group()) == (expected and expected.group())
    assert bool(lazy.match(text)) == bool(compiled.match(text))
    assert bool(lazy.fullmatch(text)) == bool(compiled.fullmatch(text))
    assert (lazy.flags, lazy.groups, dict(lazy.groupindex)) == (
        compiled.flags,
        compiled.groups,
        dict(compiled.groupindex),
    )


def test_the_source_is_known_without_compiling_and_a_bad_one_fails_on_first_use() -> None:
    broken = lazy_compile("(unclosed")
    assert broken.pattern == "(unclosed"
    with pytest.raises(re.error):
        broken.search("text")
    with pytest.raises(AttributeError):
        lazy_compile("x").no_such_attribute  # noqa: B018


def test_a_search_only_process_compiles_none_of_the_write_side_tables(tmp_path: Path) -> None:
    from multisession import MemoryEngine

    with MemoryEngine(tmp_path / "store", embedder=None) as engine:
        engine.add("alice", "The dentist appointment moved to Friday")
    script = f"""
        import json
        from multisession import MemoryEngine
        from multisession.extraction import _worthiness_rules as worthiness
        from multisession.lifecycle import rules as lifecycle
        from multisession.privacy import detectors

        engine = MemoryEngine({str(tmp_path / "store")!r}, embedder=None)
        hit = engine.search("alice", "when is the dentist?", k=1)[0].memory.content
        patterns = [
            worthiness.SARCASM, worthiness.QUESTION_START, worthiness.FEEDBACK[0].pattern,
            lifecycle._PREFERENCE, detectors._EMAIL, detectors._CARD,
        ]
        compiled = [p.pattern[:30] for p in patterns if "search" in getattr(p, "__dict__", {{}})]
        unused = [p.pattern[:30] for p in patterns if not hasattr(p, "__dict__")]
        engine.add("bob", "My email is bob@example.com and I'm allergic to peanuts")
        after = [p is detectors._EMAIL for p in patterns if "search" in p.__dict__]
        engine.close()
        print(json.dumps({{"hit": hit, "compiled": compiled, "eager": unused, "after": after}}))
        """
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        check=True,
    )
    outcome = json.loads(finished.stdout.strip().splitlines()[-1])
    assert outcome["hit"] == "The dentist appointment moved to Friday"
    assert outcome["compiled"] == []  # searching compiled none of them
    assert outcome["eager"] == []  # none was a pattern compiled at import
    assert True in outcome["after"]  # writing ran the e-mail detector, compiling it
