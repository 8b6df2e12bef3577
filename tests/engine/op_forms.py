"""The forms the per-family op tests used to check one by one, now examples of the sweep.

Each grid (broadcast shapes of the binary ops, reduction axes, matmul transposes and batch
shapes, einsum equations, tensordot axes, conv and pool geometries, shape-op attr forms) is
data here; ``op_examples.py`` files every entry as an ``Example``, so each form gets the
whole sweep (VJP, second order, float32, unknown dimensions, round trip, adjoint), and the
per-family files check the forward values of the same grids against numpy.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .gradcheck import rand

# op -> a float64 point inside its domain, away from kinks and poles
POSITIVE = rand(3, 4, low=0.3, high=2.0)
AWAY_FROM_ZERO = np.where(rand(3, 4, seed=3) >= 0, 1.0, -1.0) * rand(3, 4, low=0.2, high=2.0)
UNARY = {
    "neg": rand(3, 4), "abs": AWAY_FROM_ZERO, "exp": rand(3, 4), "expm1": rand(3, 4),
    "log": POSITIVE, "log1p": rand(3, 4, low=-0.7, high=2.0), "sqrt": POSITIVE,
    "rsqrt": POSITIVE, "square": rand(3, 4), "reciprocal": AWAY_FROM_ZERO,
    "sin": rand(3, 4), "cos": rand(3, 4), "tan": rand(3, 4, low=-1.2, high=1.2),
    "tanh": rand(3, 4), "sigmoid": rand(3, 4), "relu": AWAY_FROM_ZERO,
    "relu6": rand(3, 4, low=-3.0, high=8.0) + 0.37, "elu": AWAY_FROM_ZERO,
    "selu": AWAY_FROM_ZERO, "softplus": rand(3, 4), "erf": rand(3, 4),
    "identity": rand(3, 4),
}


BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "squared_difference",
          "atan2"]
SHAPES = [((3, 1), (1, 4)), ((), (3, 4)), ((3, 4), ()), ((2, 3), (3,)), ((3,), (2, 3)),
          ((2, 3), (2, 3))]


def binary_point(op: str, sa: tuple[int, ...], sb: tuple[int, ...]):
    a, b = rand(*sa, seed=1), rand(*sb, seed=2)
    if op == "pow":  # a positive base; any exponent
        a = rand(*sa, seed=1, low=0.5, high=2.0)
    if op == "div":
        b = AWAY_FROM_ZERO.reshape(-1)[: b.size].reshape(sb)
    if op in ("maximum", "minimum"):  # no ties
        b = a.mean() + 0.5 + b if a.size == 1 else b
    return a, b


REDUCTIONS = ["sum", "mean", "max", "min", "prod", "logsumexp"]
AXES = [None, 0, 1, -1, -2, [0, 2], [-1, 0], [0, 1, 2], []]


def distinct_nonzero(*shape: int) -> np.ndarray:
    """Values with no ties and no zeros, so max/min/prod are smooth at the point."""
    n = int(np.prod(shape))
    vals = np.random.default_rng(7).permutation(n) * 0.37 + 0.5
    signs = np.where(np.arange(n) % 3 == 0, -1.0, 1.0)
    return (vals * signs / n * 2).reshape(shape)


BATCHED = [((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (6, 4, 2)),
           ((6, 3, 4), (4, 2)), ((1, 3, 4), (2, 4, 2))]


def stored(shape: tuple[int, ...], transposed: bool) -> tuple[int, ...]:
    """A matmul operand's stored shape when the op transposes it."""
    return (*shape[:-2], shape[-1], shape[-2]) if transposed else shape


EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->", [(3, 4)]),
    ("ij->i", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ij,jk", [(3, 4), (4, 5)]),                     # implicit output: ik
    ("bA,aB", [(2, 3), (4, 5)]),                     # implicit, upper case sorts first
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # broadcast batch
    ("i...j,...jk->i...k", [(2, 3, 1, 4), (5, 4, 2)]),  # ellipsis in the middle
    ("...,...->...", [(2, 1), (3,)]),
    ("i...,j", [(3, 2), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),      # three operands
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),          # summed letters in one operand
    ("ij,k->ik", [(3, 4), (5,)]),
    ("ij,jk->ik", [(3, 1), (4, 2)]),                 # numpy broadcasts a size 1
    ("i,i->", [(4,), (4,)]),
    ("ii->i", [(3, 3)]),                             # diagonals
    ("ii", [(3, 3)]),                                # implicit: the trace
    ("bii->bi", [(2, 3, 3)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("ij,jj->i", [(3, 2), (2, 2)]),
]


TENSORDOT_CASES = [
    (1, [(3, 4), (4, 5)]),
    (0, [(2, 3), (4,)]),
    (2, [(2, 3, 4), (3, 4, 5)]),
    ([[0, 2], [1, 0]], [(3, 4, 5), (5, 3, 2)]),
    ([1, 0], [(3, 4), (4, 5)]),
    ([[-1], [0]], [(3, 4), (4, 5)]),
]


CONV_VARIANTS = [
    ({"strides": 1, "padding": "VALID"}, (1, 1), (1, 1), False),
    ({"strides": [1, 2, 2, 1], "padding": "SAME"}, (2, 2), (1, 1), True),
    ({"strides": [2, 1], "padding": "same"}, (2, 1), (1, 1), True),
    ({"strides": 2, "padding": "VALID"}, (2, 2), (1, 1), False),
    ({"dilations": 2, "padding": "SAME"}, (1, 1), (2, 2), True),
    ({"dilations": [1, 2, 1, 1], "strides": 2, "padding": "VALID"}, (2, 2), (2, 1), False),
    ({"dilations": [2, 1], "padding": "SAME", "strides": [1, 1, 2, 1]}, (1, 2), (2, 1), True),
]


POOL_VARIANTS = [(k, s, p) for k in (2, 3) for s in (1, 2) for p in ("SAME", "VALID")]


def simplex_on(*shape: int, seed: int = 0, axis: int = -1) -> np.ndarray:
    """Labels that sum to 1 along ``axis`` (TensorFlow's gradient assumes it)."""
    p = np.random.default_rng(seed).uniform(0.1, 1.0, size=shape)
    return p / p.sum(axis=axis, keepdims=True)


IDX = np.array([2, 0, 2, 3, 2])  # repeated indices: their gradients must add up
IDX_2D = np.array([[0, 3], [3, 3], [1, 0]], dtype=np.int32)

# (op, inputs, attrs, output index)
SHAPE_FORMS: dict[str, tuple[str, list[np.ndarray], dict[str, Any], int]] = {
    "concat-axis0": ("concat", [rand(2, 3), rand(1, 3, seed=1), rand(3, 3, seed=2)],
                     {"axis": 0}, 0),
    "concat-neg-axis": ("concat", [rand(2, 3), rand(2, 1, seed=1)], {"axis": -1}, 0),
    "concat-one-input": ("concat", [rand(2, 3)], {"axis": 1}, 0),
    "concatv2-alias": ("ConcatV2", [rand(2, 2, 2), rand(2, 1, 2, seed=1)], {"axis": 1}, 0),
    "stack-default": ("stack", [rand(2, 3), rand(2, 3, seed=1), rand(2, 3, seed=2)], {}, 0),
    "stack-last": ("stack", [rand(2, 3), rand(2, 3, seed=1)], {"axis": -1}, 0),
    "stack-one-input": ("stack", [rand(2, 3)], {"axis": 2}, 0),
    "pack-middle": ("Pack", [rand(2, 3), rand(2, 3, seed=1)], {"axis": 1}, 0),
    "split-count-0": ("split", [rand(4, 3)], {"num_or_size_splits": 2}, 0),
    "split-count-1": ("split", [rand(4, 3)], {"num_or_size_splits": 2}, 1),
    "split-sizes": ("split", [rand(3, 6)], {"num_or_size_splits": [1, 2, 3], "axis": 1}, 2),
    "split-neg-size": ("split", [rand(3, 6)], {"num_or_size_splits": [2, -1], "axis": -1}, 1),
    "split-zero-size": ("split", [rand(3, 4)], {"num_or_size_splits": [0, 4], "axis": 1}, 1),
    "slice": ("slice", [rand(4, 5)], {"begin": [1, 2], "size": [2, 3]}, 0),
    "slice-to-end": ("slice", [rand(4, 5)], {"begin": [1, 0], "size": [-1, 2]}, 0),
    "strided": ("strided_slice", [rand(5, 6)],
                {"begin": [0, 1], "end": [5, 6], "strides": [2, 2]}, 0),
    "strided-neg-begin-end": ("strided_slice", [rand(5, 6)],
                              {"begin": [-4, -5], "end": [-1, -1]}, 0),
    "strided-null-open": ("strided_slice", [rand(5, 6)],
                          {"begin": [None, 2], "end": [3, None]}, 0),
    "strided-reverse": ("strided_slice", [rand(5, 6)],
                        {"begin": [None, None], "end": [None, None], "strides": [-1, -2]}, 0),
    "strided-reverse-from": ("strided_slice", [rand(5, 6)],
                             {"begin": [3], "end": [None], "strides": [-1]}, 0),
    "strided-shorter-lists": ("strided_slice", [rand(4, 3, 2)],
                              {"begin": [1], "end": [3]}, 0),
    "strided-shrink": ("strided_slice", [rand(4, 3)],
                       {"begin": [-1, 0], "end": [0, 3], "shrink_axis_mask": 1}, 0),
    "strided-masks": ("StridedSlice", [rand(4, 3)],
                      {"begin": [2, 7], "end": [0, 1], "begin_mask": 2, "end_mask": 1,
                       "ellipsis_mask": 0, "new_axis_mask": 0}, 0),
    "gather-repeated": ("gather", [rand(4, 3), IDX], {"batch_dims": 0}, 0),
    "gather-axis1": ("gather", [rand(2, 4, 3), IDX], {"axis": 1}, 0),
    "gather-axis-neg": ("GatherV2", [rand(3, 4), IDX.astype(np.int32)], {"axis": -1}, 0),
    "gather-2d-indices": ("gather", [rand(4, 2), IDX_2D], {"axis": 0}, 0),
    "gather-2d-indices-axis1": ("gather", [rand(2, 4, 3), IDX_2D], {"axis": 1}, 0),
    "gather-scalar-index": ("gather", [rand(4, 3), np.array(3)], {}, 0),
    "pad": ("pad", [rand(2, 3)], {"paddings": [[1, 0], [2, 3]]}, 0),
    "pad-constant-values": ("pad", [rand(2, 3)],
                            {"paddings": [[0, 2], [1, 1]], "constant_values": -1.5}, 0),
    "pad-mode-constant": ("pad", [rand(3)], {"paddings": [[2, 2]], "mode": "constant"}, 0),
    "tile": ("tile", [rand(2, 3)], {"multiples": [2, 3]}, 0),
    "tile-ones": ("tile", [rand(2, 3)], {"multiples": [1, 1]}, 0),
    "tile-3d": ("tile", [rand(2, 1, 3)], {"multiples": [1, 4, 2]}, 0),
    "reshape-neg": ("reshape", [rand(2, 6)], {"shape": [3, -1]}, 0),
    "transpose-default": ("transpose", [rand(2, 3, 4)], {}, 0),
    "transpose-perm": ("transpose", [rand(2, 3, 4)], {"perm": [1, -1, 0]}, 0),
    "expand-dims": ("expand_dims", [rand(2, 3)], {"axis": -1}, 0),
    "expand-dims-list": ("expand_dims", [rand(2, 3)], {"axis": [0, 2]}, 0),
    "squeeze-all": ("squeeze", [rand(1, 3, 1)], {}, 0),
    "squeeze-axis": ("squeeze", [rand(1, 3, 1)], {"axis": -1}, 0),
    "broadcast-to": ("broadcast_to", [rand(3, 1)], {"shape": [2, 3, 4]}, 0),
}
