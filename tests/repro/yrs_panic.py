"""yrs panics inside `apply_update` on a 26-byte update: a minimal reproduction for upstream.

Plain pycrdt (yrs 0.28 underneath), no project code. Eight updates of an ordinary editing
session (client 3840193177 types into a Tiptap-shaped document), then one whose struct clock
does not fit in 32 bits. yrs does not refuse it while decoding (that would be a ValueError,
nothing changed); it panics half way through integration:

    thread panicked at yrs/src/block_store.rs: called `Option::unwrap()` on a `None` value
    pyo3_runtime.PanicException (a BaseException, not an Exception)

and the document is left half-integrated. In a server, any peer can send this.

Run: python tests/repro/yrs_panic.py  (prints the outcome; exits 0 unless the interpreter dies)
"""

from __future__ import annotations

import sys

from pycrdt import Doc

BEFORE = [
    "010399e592a70e00070107636f6e74656e740309706172616772617068070099e592a70e0006040099e592a70e010b48656c6c6f20776f726c6400",
    "010399e592a70e0dc699e592a70e0699e592a70e0704626f6c640474727565c499e592a70e0d99e592a70e07012cc699e592a70e0e99e592a70e0704626f6c64046e756c6c00",
    "010499e592a70e108799e592a70e00030768656164696e67280099e592a70e10056c6576656c017c40000000070099e592a70e1006040099e592a70e12055469746c6500",
    "000199e592a70e010202",
    "010599e592a70e188799e592a70e10030a62756c6c65744c697374070099e592a70e1803086c6973744974656d070099e592a70e190309706172616772617068070099e592a70e1a06040099e592a70e1b046974656d00",
    "010399e592a70e2028010261690673746174757301770973747265616d696e672701026169047465787402040099e592a70e2105746f6b656e00",
    "010299e592a70e27c699e592a70e0499e592a70e05066974616c69630474727565c699e592a70e0f99e592a70e07066974616c6963046e756c6c00",
    "010199e592a70e298499e592a70e0c0564656c746100",
]
UPDATE = "010199e592a70e99e592a76e8499e592a70e2d0564656c746100"


def main() -> int:
    doc: Doc[object] = Doc()
    for update in BEFORE:
        doc.apply_update(bytes.fromhex(update))
    try:
        doc.apply_update(bytes.fromhex(UPDATE))
    except ValueError as exc:
        print(f"refused while decoding (fixed upstream?): {exc}")
    except BaseException as exc:  # a Rust panic is a BaseException
        print(f"yrs failed half way: {type(exc).__name__}: {exc}")
    else:
        print("applied without error (fixed upstream?)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
