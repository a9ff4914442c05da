"""The versions diff is a unified diff that `patch` applies, last lines included."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.workflow.versions import unified_diff
from storage.repos.versions import Version, VersionContent


def version(label: str, markdown: str) -> VersionContent:
    meta = Version(uuid.uuid4(), uuid.uuid4(), 1, label, "manual", None, datetime.now(UTC))
    return VersionContent(meta, {"type": "doc"}, markdown)


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply(diff: str, source: str) -> str:
    """A strict unified-diff applier: context must match, markers must be where they belong."""
    old = source.split("\n")
    old_lines = [line + "\n" for line in old[:-1]] + ([old[-1]] if old[-1] else [])
    out: list[str] = []
    at = 0
    lines = diff.split("\n")[2:]  # the --- and +++ headers
    i = 0
    while i < len(lines) and lines[i]:
        match = _HUNK.match(lines[i])
        assert match, lines[i]
        start = int(match.group(1)) - (0 if match.group(2) == "0" else 1)
        out.extend(old_lines[at:start])
        at = start
        i += 1
        while i < len(lines) and lines[i][:1] in (" ", "-", "+", "\\"):
            kind, body = lines[i][:1], lines[i][1:] + "\n"
            if i + 1 < len(lines) and lines[i + 1].startswith("\\ No newline"):
                body = body[:-1]
                i += 1
            if kind in (" ", "-"):
                assert old_lines[at] == body, (old_lines[at], body)
                at += 1
            if kind in (" ", "+"):
                out.append(body)
            i += 1
    out.extend(old_lines[at:])
    return "".join(out)


def test_last_lines_without_newline_are_marked() -> None:
    a = version("draft 1", "# Plan\n\nAlpha body line.")
    b = version("draft 2", "# Plan\n\nBeta body line.")
    diff = unified_diff(a, b)
    assert "-Alpha body line.\n\\ No newline at end of file\n" in diff
    assert "+Beta body line.\n\\ No newline at end of file\n" in diff
    assert "-Alpha body line.+Beta" not in diff
    assert diff.endswith("\n")
    assert apply(diff, a.markdown) == b.markdown


def test_header_stays_on_one_line() -> None:
    diff = unified_diff(version("two\nlines", "a\n"), version("b", "b\n"))
    assert diff.splitlines()[0].startswith("--- two lines (")


TEXTS = st.lists(
    st.sampled_from(["alpha", "beta", "", "gamma\r", "delta\u2028x", "# h", " lead"]), max_size=6
).map("\n".join) | st.text(alphabet="ab\n\r", max_size=12)


@settings(max_examples=300, deadline=None)
@given(TEXTS, TEXTS)
def test_diff_applies_back(a: str, b: str) -> None:
    diff = unified_diff(version("a", a), version("b", b))
    assert apply(diff, a) == b if diff else a == b


@pytest.mark.skipif(shutil.which("patch") is None, reason="no patch(1) here")
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Alpha body line.", "Beta body line."),
        ("one\ntwo\n", "one\ntwo"),
        ("one\ntwo", "one\ntwo\n"),
        ("x\ny", "x\ny\nz"),
        ("", "new"),
        ("gone", ""),
    ],
)
def test_patch_accepts_it(tmp_path: Path, a: str, b: str) -> None:
    target = tmp_path / "phase.md"
    target.write_text(a, newline="")
    diff = unified_diff(version("a", a), version("b", b))
    done = subprocess.run(
        ["patch", "--batch", "--silent", "--posix", str(target)],
        input=diff.encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.read_bytes().decode() == b
