"""Fuzz the room with valid, mutated and hostile updates; find updates yrs fails on.

    python -m bench.fuzz_room --seconds 600        # the room never crashes and equals a
                                                   # reference fed only what it accepted
    python -m bench.fuzz_room --find 50000 --save  # search yrs itself for updates it fails on
                                                   # half way; add them to tests/corpus/

The room fuzz runs in worker processes (one per core by default) so that a crash (a segfault
in yrs) is seen and reported with the input that caused it, not just as a dead fuzzer. Each
worker writes its next input to a file before applying it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from pycrdt import Doc

from collab.errors import CollabError
from collab.room import NeedsResync
from tests.hostile import CORPUS, corpus, crafted, mutate, tiptap_edits
from tests.rooms import content_of, harness, phase


def find(iterations: int, seed: int) -> list[dict[str, object]]:
    """Apply mutated edits to a fresh replica; keep those yrs fails on past decoding."""
    rng = random.Random(seed)
    base = tiptap_edits()
    found: dict[str, list[dict[str, object]]] = {}
    for _ in range(iterations):
        index = rng.randrange(len(base))
        prefix = index + rng.randrange(2)  # before the edit, or after it (a mutated repeat)
        doc: Doc[object] = Doc()
        for update in base[:prefix]:
            doc.apply_update(update)
        update = mutate(rng, base[index])
        try:
            doc.apply_update(update)
        except ValueError:
            continue  # a clean decode error: nothing was touched
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a RuntimeError or a Rust panic half way
            kind = f"{type(exc).__name__}: {str(exc).split(' <')[0][:60]}"
            examples = found.setdefault(kind, [])
            if len(examples) < 3:  # a few of each kind
                examples.append({"prefix": prefix, "update": update.hex(), "found": kind})
    return [case for examples in found.values() for case in examples]


def save(cases: list[dict[str, object]]) -> None:
    data = json.loads(CORPUS.read_text()) if CORPUS.exists() else {"cases": []}
    data["base"] = [update.hex() for update in tiptap_edits()]
    known = {case["update"] for case in data["cases"]}
    data["cases"] += [case for case in cases if case["update"] not in known]
    CORPUS.parent.mkdir(exist_ok=True)
    CORPUS.write_text(json.dumps(data, indent=1) + "\n")


async def fuzz_room(seconds: float, seed: int, progress: Path) -> Counter[str]:
    """Drive one room; after every step its replica equals the reference. Returns outcomes."""
    rng = random.Random(seed)
    base = tiptap_edits(seed % 7)
    hostile = list(crafted().values()) + [case.update for case in corpus()]
    outcomes: Counter[str] = Counter()
    async with harness() as h:
        reference: Doc[object] = Doc()
        room = await h.manager.get(phase())
        peer, _ = h.peer()
        room.join(peer)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            update = _pick(rng, base, hostile)
            progress.write_bytes(update)  # noqa: ASYNC240  (a crash must find it on disk)
            try:
                room.apply_from_peer(peer, update)
            except CollabError:
                outcomes["refused"] += 1
            except NeedsResync:
                outcomes["deferred (resync)"] += 1
            else:
                outcomes["accepted"] += 1
                reference.apply_update(update)
            if room.damaged:  # dropped: its peers reconnect to a replica read from the log
                outcomes["replica reloaded"] += 1
                room = await h.manager.get(phase())  # commits the journal, then reads
                peer, _ = h.peer()
                room.join(peer)
            if content_of(room.doc) != content_of(reference):
                raise AssertionError(f"replica differs from the reference after {update.hex()}")
            if sum(outcomes.values()) % 200 == 0:
                await asyncio.sleep(0)  # let the journal commit
    return outcomes


def _pick(rng: random.Random, base: list[bytes], hostile: list[bytes]) -> bytes:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(base)
    if roll < 0.9:
        return mutate(rng, rng.choice(base))
    return rng.choice(hostile)


def supervise(seconds: float, workers: int, seed: int) -> int:
    """Run workers in their own processes; a worker killed by a signal is a crash."""
    started = time.monotonic()
    crashes = 0
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for n in range(workers):
            progress = Path(tmp) / f"worker{n}.bin"
            args = ["--worker", str(seed + n), "--seconds", str(seconds), "--progress"]
            cmd = [sys.executable, "-m", "bench.fuzz_room", *args, str(progress)]
            procs.append((subprocess.Popen(cmd), progress))
        for proc, progress in procs:
            code = proc.wait()
            if code != 0:
                crashes += 1
                last = progress.read_bytes().hex() if progress.exists() else "?"
                print(f"worker exited with {code}; last input: {last}")
    print(f"fuzzed {workers} rooms for {time.monotonic() - started:.0f} s: {crashes} crashes")
    return 1 if crashes else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--find", type=int, help="search yrs with this many mutations")
    parser.add_argument("--save", action="store_true", help="add what --find found to the corpus")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--progress", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.find:
        cases = find(args.find, args.seed)
        for case in cases:
            print(case["found"], case["update"])
        print(f"{len(cases)} updates yrs fails on half way, in {args.find} mutations")
        if args.save:
            save(cases)
        return
    if args.worker is not None:
        outcomes = asyncio.run(fuzz_room(args.seconds, args.worker, args.progress))
        tally = ", ".join(f"{count} {what}" for what, count in outcomes.most_common())
        print(f"worker {args.worker}: no crash, replica == reference; {tally}")
        return
    print(f"seed {args.seed}")
    sys.exit(supervise(args.seconds, args.workers, args.seed))


if __name__ == "__main__":
    main()
