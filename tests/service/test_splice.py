"""splice.dumps: pieces that join to the JSON orjson writes with the base64 as text, the
large base64 kept as its own pieces (not copied into the document), whatever the strings
around it hold."""
from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from service import splice
from service.handlers import encode


def _as_text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("ascii")
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    return value


def test_pieces_join_to_the_document_with_large_base64_as_separate_pieces() -> None:
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=s).astype(np.float32) for s in [(300, 20), (3,), (40, 50)]]
    answer = {"gradients": [*(encode(g, "base64") for g in grads), None],
              "values": {"y": encode(np.float64(2.5), "base64")},
              "note": 'quotes " and \u00e9 and a 16-hex-digit-looking 0123456789abcdef00000000'}
    pieces = splice.dumps(answer)
    assert b"".join(pieces) == orjson.dumps(_as_text(answer), option=orjson.OPT_SERIALIZE_NUMPY)
    large = [a["b64"] for a in answer["gradients"][:3] if len(a["b64"]) >= splice.SPLICE_BYTES]
    assert len(large) == 2 and all(any(p is b for p in pieces) for b in large)


def test_an_answer_without_large_base64_is_one_piece() -> None:
    answer = {"gradients": [encode(np.ones(3, np.float32), "base64"), encode(np.ones(2),
                                                                             "nested")]}
    pieces = splice.dumps(answer)
    assert len(pieces) == 1
    assert orjson.loads(pieces[0]) == orjson.loads(orjson.dumps(_as_text(answer),
                                                                option=orjson.OPT_SERIALIZE_NUMPY))


def test_other_types_are_still_refused() -> None:
    with pytest.raises(TypeError):
        splice.dumps({"x": {1, 2}})
