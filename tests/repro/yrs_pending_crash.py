"""yrs segfaults on four small updates: pending structs plus a pending deletion.

Plain pycrdt (yrs 0.28 underneath), no project code: a reproduction for upstream. The first
update is an ordinary paragraph; the second inserts text at clock 5306 of the same client
(far past its state, so yrs keeps it pending); the third deletes a range that does not exist
yet (kept pending too); the fourth inserts at clock 5304. The process dies with SIGSEGV
inside `apply_update`: no Python exception, nothing a server can catch.

Run: python tests/repro/yrs_pending_crash.py   (exit status 139/-11 while the bug stands)
"""

from __future__ import annotations

from pycrdt import Doc

UPDATES = [
    "010399e592a70e00070107636f6e74656e740309706172616772617068070099e592a70e0006040099e592a70e"
    "010b48656c6c6f20776f726c6400",
    "010199e592a70eba298499e592a70e0c0564656c746100",
    "000199e592a70e01019910",
    "010199e592a70eb8298499e592a70e0c0564656c746100",
]


def main() -> None:
    doc: Doc[object] = Doc()
    for update in UPDATES:
        doc.apply_update(bytes.fromhex(update))
    print("applied all four without crashing (fixed upstream?)")


if __name__ == "__main__":
    main()
