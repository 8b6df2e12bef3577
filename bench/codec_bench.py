"""The service's tensor codec on a 1,000,000-element float32 tensor, in each wire form.

Decode is timed from the request's bytes (``orjson.loads`` then ``codec.decode``), since
for the nested form the JSON parse is most of the work; encode is ``codec.encode`` then
``orjson.dumps`` to bytes. MB/s counts the tensor's own 4 MB, whatever its wire size.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from .timing import Stats, measure

ELEMENTS = 1_000_000
FORMS = ("nested", "typed", "base64")


@dataclass
class CodecResult:
    form: str
    wire_bytes: int
    decode: Stats | None
    encode: Stats | None
    note: str = ""

    def mb_per_s(self, stats: Stats | None, elements: int = ELEMENTS) -> float | None:
        return None if stats is None else elements * 4 / 1e6 / stats.median


def tensor(elements: int = ELEMENTS, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(elements).astype(np.float32)


def load_codec() -> tuple[Any, str | None]:
    try:
        from service import codec
    except Exception as exc:  # the service is written in parallel: missing is reportable
        return None, f"service.codec not importable ({type(exc).__name__}: {exc})"
    return codec, None


def wire_bytes(codec: Any, arr: np.ndarray, form: str) -> bytes:
    return orjson.dumps(codec.encode(arr, form))


def run(budget_s: float = 1.5, elements: int = ELEMENTS,
        log: Callable[[str], Any] = print) -> list[CodecResult]:
    codec, missing = load_codec()
    if codec is None:
        return [CodecResult(f, 0, None, None, missing or "") for f in FORMS]
    arr = tensor(elements)
    out = []
    for form in FORMS:
        body = wire_bytes(codec, arr, form)
        back = codec.decode(orjson.loads(body), "float32", elements)
        if not np.array_equal(back, arr):
            out.append(CodecResult(form, len(body), None, None, "round trip differs"))
            continue
        dec = measure(lambda b=body: codec.decode(orjson.loads(b), "float32", elements),
                      budget_s, min_reps=3)
        enc = measure(lambda f=form: orjson.dumps(codec.encode(arr, f)), budget_s, min_reps=3)
        r = CodecResult(form, len(body), dec, enc)
        log(f"[codec] {form:7s} wire {len(body) / 1e6:6.2f} MB  decode "
            f"{r.mb_per_s(dec, elements):8.1f} MB/s  encode {r.mb_per_s(enc, elements):8.1f} MB/s")
        out.append(r)
    return out
