"""Export rendering time for a 14-phase project of about 50 PDF pages.

python -m bench.render [--paragraphs 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import uuid
from datetime import UTC, datetime

from collab.content import markdown_to_prosemirror, prosemirror_to_markdown
from server.exports.model import ExportMember, ExportPhase, ExportProject
from server.exports.render import render

SENTENCE = (
    "The team reviewed the findings of the previous phase, agreed on the next steps and "
    "recorded the **decisions** with their *reasons* so that later phases can build on them. "
)


def phase_markdown(number: int, paragraphs: int) -> str:
    parts = [f"## Section {number}.1"]
    for i in range(paragraphs):
        parts.append(SENTENCE * 2)
        if i % 10 == 5:
            parts.append("- a point worth listing\n- another point\n  - a nested detail")
        if i % 10 == 9:
            parts.append(f"## Section {number}.{i // 10 + 2}")
    return "\n\n".join(parts)


def project(paragraphs: int) -> ExportProject:
    now = datetime.now(UTC)
    phases = []
    for n in range(1, 15):
        content = markdown_to_prosemirror(phase_markdown(n, paragraphs))
        phases.append(
            ExportPhase(
                n,
                f"p{n}",
                f"Phase {n}",
                "",
                "completed",
                now,
                content,
                prosemirror_to_markdown(content),
            )
        )
    member = ExportMember("Ada", "ada@example.com", "owner")
    return ExportProject(uuid.uuid4(), "Benchmark", "", "default v1", now, (member,), tuple(phases))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paragraphs", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    snapshot = project(args.paragraphs)
    for fmt in ("pdf", "docx", "json"):
        times, size = [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            data, _, _ = render(fmt, snapshot, None)  # type: ignore[arg-type]
            times.append(time.perf_counter() - started)
            size = len(data)
        extra = ""
        if fmt == "pdf":
            from pypdf import PdfReader

            extra = f", {len(PdfReader(io.BytesIO(data)).pages)} pages"
        print(
            f"{fmt}: median {statistics.median(times):.2f} s over {args.repeat} ({size // 1024} KiB{extra})"
        )


if __name__ == "__main__":
    main()
