"""An answer's JSON in pieces: the document around its large base64 strings, and those
strings' bytes as they came out of the encoder.

``orjson.dumps`` copies every string into its output, and the worker then copied that
output into the lane: W2's 1.09 MB of base64 was written three times (encoder, orjson,
lane). Here a tensor's base64 comes as ``bytes`` (``codec.encode(..., raw=True)``), which
orjson does not serialize itself: its ``default`` hook puts a marker in the document's
place for a large one (the small ones become strings there and then), and the pieces
are the document cut at the markers with the bytes in between; the lane (or the pipe's
``sendmsg``) takes them one after another, so the base64 is copied once, into the lane.
"""
from __future__ import annotations

import os
from typing import Any

import orjson

SPLICE_BYTES = 4096  # smaller base64 is put in the document (a piece per tiny tensor costs more)
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dumps(doc: Any) -> list[bytes]:
    """``doc`` as JSON, in pieces whose concatenation is what ``orjson.dumps`` would give
    with each ``bytes`` value written as its ASCII text."""
    large: list[bytes] = []
    token = ""  # drawn at the first large one (most answers have none): a marker no string
    # of this answer holds (2**-64 odds)

    def default(value: Any) -> str:
        nonlocal token
        if not isinstance(value, bytes):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        if len(value) < SPLICE_BYTES:
            return value.decode("ascii")
        token = token or os.urandom(8).hex()
        large.append(value)
        return f"{token}{len(large) - 1:08d}"

    text = orjson.dumps(doc, option=_OPTIONS, default=default)
    if not large:
        return [text]
    pieces, start = [], 0
    for i, blob in enumerate(large):  # markers appear in the order default met them
        mark = f"{token}{i:08d}".encode()
        at = text.index(mark, start)
        pieces += [text[start:at], blob]
        start = at + len(mark)
    pieces.append(text[start:])
    return pieces
