"""ONNX's own node tests (``onnx.backend.test.case.node``: each a one-op model, its inputs
and the outputs of ONNX's reference implementation), every one whose ops onnxio lists:
the import either refuses with an OnnxError naming what it does not take (an opset or
version, an element type, an input it needs known at import) or the engine answers the
reference's outputs, their shapes and dtypes, to the case's own tolerances. A graph input
an op needs known at import (axes, a shape, a k: these tests feed them) is bound to the
case's value, as the service binds a request's feed (``onnxio.bound_description``). At
least the count below is answered (not refused), so that a refusal creeping in shows here
too."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import onnxio
from engine import Graph, run

ANSWERED_AT_LEAST = 948  # of the 1,289 cases over supported ops, onnx 1.23 (953 answered)


def _cases() -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators' own overflow and cast warnings
        from onnx.backend.test.case.node import collect_testcases

        cases = collect_testcases(None)
    ours = {e["op_type"] for e in onnxio.supported_ops()}
    return [c for c in cases if all(n.op_type in ours and n.domain in ("", "ai.onnx")
                                    for n in c.model.graph.node)]


CASES = _cases()


# Cases where ONNX's reference and onnxruntime disagree, and we answer as onnxruntime (the
# runtime users meet, and the peer the acceptance cases were recorded from): checked
# against onnxruntime's outputs instead, and against the reference's to differ.
AS_ONNXRUNTIME = {
    "test_resize_downsample_scales_linear_align_corners":
        "align_corners from scales: the reference divides by the unfloored output length "
        "(scale x input length), onnxruntime by the output's size",
    "test_resize_downsample_scales_cubic_align_corners":
        "align_corners from scales, as the linear case above: the reference divides by "
        "the unfloored output length, onnxruntime by the output's size",
}


def _onnxruntime_outputs(case: Any, feeds: dict[str, Any]) -> list[Any]:
    import onnxruntime

    session = onnxruntime.InferenceSession(case.model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _array(value: Any) -> Any:
    """A case's input or reference output as numpy: some cases (the casts over NaN and
    inf) store theirs as TensorProtos."""
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else value


def _answered(case: Any) -> bool:
    """False for a refusal (an OnnxError, which names what it does not take); True once
    every output has the reference's dtype, shape and values."""
    inputs, outputs = ([_array(v) for v in vs] for vs in case.data_sets[0])
    feeds = {i.name: v for i, v in zip(case.model.graph.input, inputs, strict=False)}
    try:
        description, _ = onnxio.bound_description(case.model.SerializeToString(),
                                                  lambda name, dtype: feeds.get(name))
        graph = Graph.from_description(description)
    except onnxio.OnnxError as exc:
        assert str(exc)
        return False
    got = run(graph, [o.name for o in case.model.graph.output], feeds)
    if case.name in AS_ONNXRUNTIME:
        assert not all(np.allclose(v, w) for v, w in zip(got, outputs, strict=True))
        outputs = _onnxruntime_outputs(case, feeds)
    for out, value, want in zip(case.model.graph.output, got, outputs, strict=True):
        value, want = np.asarray(value), np.asarray(want)
        assert value.dtype == want.dtype and value.shape == want.shape, out.name
        if want.dtype.kind == "f":
            np.testing.assert_allclose(value, want, rtol=case.rtol, atol=case.atol,
                                       err_msg=out.name)
        else:
            np.testing.assert_array_equal(value, want, err_msg=out.name)
    return True


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_answers_the_reference_or_refuses(case: Any) -> None:
    _answered(case)


def test_most_supported_cases_are_answered() -> None:
    answered = sum(_answered(c) for c in CASES)
    assert answered >= ANSWERED_AT_LEAST, (answered, len(CASES))


def test_a_later_version_is_read_as_ours_only_where_it_changed_types_alone() -> None:
    from onnxio.import_ops import read_as

    assert read_as("Acos", 22, (7,)) == 7  # opset 22: bfloat16 added
    assert read_as("Cast", 23, (13, 19, 21)) == 21
    assert read_as("Cast", 24, (13, 19, 21)) == 21  # round_mode: float8e8m0's alone
    assert read_as("CastLike", 25, (15, 19, 21)) == 21  # through 24, then int2 added
    assert read_as("Mod", 28, (13,)) is None  # fmod 0 defined on floats: handled as 28
    assert read_as("Relu", 14, (14,)) == 14
    assert read_as("Relu", 6, (13, 14)) is None  # an earlier one: never


def test_each_waiver_names_just_the_attributes_its_version_adds() -> None:
    """FOR_TYPES_WE_LACK waives, for a version, attributes that matter only for types the
    engine lacks: they are exactly those the version adds (so a waiver cannot hide another
    change), and without the waiver the version would be refused."""
    from onnxio import import_ops

    assert import_ops.FOR_TYPES_WE_LACK
    for (op, version), (attrs, why) in import_ops.FOR_TYPES_WE_LACK.items():
        schema = onnx.defs.get_schema(op, version, "")
        before = onnx.defs.get_schema(op, version - 1, "")
        assert set(schema.attributes) - set(before.attributes) == attrs and why
        assert set(before.attributes) <= set(schema.attributes)
        assert import_ops._signature(op, version) != import_ops._signature(op, version - 1)
