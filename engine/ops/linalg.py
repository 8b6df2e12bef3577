"""Linear algebra: matmul (batched, broadcasting, transposes, rank-1 as numpy), einsum and
tensordot (both one explicit contraction, with one VJP rule)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import fn
from ..shapes import broadcast, is_static, normalize_axis
from . import attrs as parse
from .contexts import BatchContext, VJPContext
from .registry import ALL, Attr, OpTypeError, TensorSpec, check_dtypes, defop, kernel
from .rules import example_rank, lifted
from .subscripts import LETTERS, Contraction, parse_equation, resolve, untie

MATMUL_ATTRS = {
    "transpose_a": Attr(False, parse.boolean, aliases=("adj_x", "adjoint_a", "transpose_x1")),
    "transpose_b": Attr(False, parse.boolean, aliases=("adj_y", "adjoint_b", "transpose_x2")),
}


def _matmul_infer(specs, attrs):
    dt = check_dtypes(specs, "numeric")
    a, b = specs[0].shape, specs[1].shape
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    if not a or not b:
        raise OpTypeError("matmul needs operands of rank >= 1, got a scalar",
                          input_index=0 if not a else 1)
    if (ta and len(a) == 1) or (tb and len(b) == 1):
        raise OpTypeError("transpose_a / transpose_b need an operand of rank >= 2")
    a2 = (1, a[0]) if len(a) == 1 else ((*a[:-2], a[-1], a[-2]) if ta else a)
    b2 = (b[0], 1) if len(b) == 1 else ((*b[:-2], b[-1], b[-2]) if tb else b)
    k_a, k_b = a2[-1], b2[-2]
    if k_a is not None and k_b is not None and k_a != k_b:
        raise OpTypeError(
            f"cannot multiply {list(specs[0].shape)}{' (transposed)' if ta else ''} by "
            f"{list(specs[1].shape)}{' (transposed)' if tb else ''}: inner dimensions "
            f"{k_a} and {k_b} differ")
    try:
        batch = broadcast(a2[:-2], b2[:-2])
    except ValueError as exc:
        raise OpTypeError(f"batch dimensions: {exc}") from None
    out = batch + (() if len(a) == 1 else (a2[-2],)) + (() if len(b) == 1 else (b2[-1],))
    return TensorSpec(out, dt)


@kernel
def _matmul_kernel(attrs, specs):
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    mm = np.matmul
    if not ta and not tb:
        return mm
    if len(specs[0].shape) == len(specs[1].shape) == 2:  # .T swaps the two axes, cheapest
        if ta and tb:
            return lambda a, b: mm(a.T, b.T)
        return (lambda a, b: mm(a.T, b)) if ta else (lambda a, b: mm(a, b.T))

    def run(a, b):  # the methods: np.swapaxes's wrapper costs more than a small matmul
        return mm(a.swapaxes(-1, -2) if ta else a, b.swapaxes(-1, -2) if tb else b)

    return run


def _matmul_grads(g, a, b, ta: bool, tb: bool):
    """Gradients for operands of rank >= 2, each in its operand's stored layout."""
    if not ta and not tb:
        return fn.matmul(g, b, transpose_b=True), fn.matmul(a, g, transpose_a=True)
    if ta and not tb:
        return fn.matmul(b, g, transpose_b=True), fn.matmul(a, g)
    if not ta and tb:
        return fn.matmul(g, b), fn.matmul(g, a, transpose_a=True)
    return (fn.matmul(b, g, transpose_a=True, transpose_b=True),
            fn.matmul(g, a, transpose_a=True, transpose_b=True))


def _matmul_transpose(c: VJPContext):
    a, b, g = c.a, c.b, c.g
    ta, tb = c.attrs["transpose_a"], c.attrs["transpose_b"]
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec and b_vec:
        return [g * b, g * a]
    a2 = fn.expand_dims(a, axis=0) if a_vec else a
    b2 = fn.expand_dims(b, axis=-1) if b_vec else b
    g2 = fn.expand_dims(g, axis=-2) if a_vec else g
    g2 = fn.expand_dims(g2, axis=-1) if b_vec else g2
    da, db = _matmul_grads(g2, a2, b2, ta, tb)
    if a_vec:
        da = fn.squeeze(da, axis=-2)
    if b_vec:
        db = fn.squeeze(db, axis=-1)
    return [da, db]


def _matmul_batch(c: BatchContext):
    """Vectors become matrices (and back); a batched operand's batch axis goes first with
    size-1 batch dims after it up to the other operand's, so numpy's broadcasting matmul
    pairs the examples. An outer product (a VJP's x^T g) is a broadcast multiply."""
    ta, tb = c.attrs["transpose_a"], c.attrs["transpose_b"]
    ra, rb = example_rank(c, 0), example_rank(c, 1)
    if ra == 1 and rb == 1:
        return [fn.sum(lifted(c, 0, 1) * lifted(c, 1, 1), axis=[-1])], [0]
    width = max(ra, rb, 2)
    a, b = lifted(c, 0, width - (ra == 1)), lifted(c, 1, width - (rb == 1))
    if ra == 1:
        a = fn.expand_dims(a, axis=-2)
    if rb == 1:
        b = fn.expand_dims(b, axis=-1)
    if (a.shape[-2] if ta else a.shape[-1]) == 1:
        col = fn.expand_dims(fn.squeeze(a, axis=-2), axis=-1) if ta else a
        row = fn.expand_dims(fn.squeeze(b, axis=-1), axis=-2) if tb else b
        out = col * row
    else:
        out = fn.matmul(a, b, transpose_a=ta, transpose_b=tb)
    if rb == 1:
        out = fn.squeeze(out, axis=-1)
    if ra == 1:
        out = fn.squeeze(out, axis=-1 if rb == 1 else -2)
    return [out], [0]


defop("matmul", aliases=("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"),
      inputs=2, infer=_matmul_infer, forward=_matmul_kernel, attrs=MATMUL_ATTRS,
      linear=(0, 1), multilinear=True, transpose=_matmul_transpose, batch=_matmul_batch,
      doc="Rank >= 2 with broadcast batch dimensions; rank-1 operands as numpy does.")


# -- einsum and tensordot: one explicit contraction, one VJP rule ------------------------


def _contraction_infer(contraction_of):
    """Shape rule of an op described by a ``Contraction`` of its input ranks."""

    def infer(specs, attrs):
        dt = check_dtypes(specs, "float")
        con = contraction_of(attrs, [len(s.shape) for s in specs])
        shape = con.output_shape([s.shape for s in specs])

        return TensorSpec(shape, dt)

    return infer


def _contraction_vjp(con: Contraction, inputs, g) -> list:
    """Each operand's gradient is the einsum of the others and ``g`` onto its subscripts.

    A letter that only that operand carries (summed within it), or that the others have as
    a broadcast 1, is sized by a ones operand of its shape; a letter repeated in it (a
    diagonal) is renamed and tied back by an identity matrix. Axes where the operand itself
    had a broadcast 1 come out full size; autodiff sums them back to the operand's shape.
    """
    grads = []
    taken = "".join(con.inputs) + con.output
    for k, x in enumerate(inputs):
        pairs = [(s, t) for i, (s, t) in enumerate(zip(con.inputs, inputs, strict=True))
                 if i != k]
        pairs.append((con.output, g))
        target, ties = untie(con.inputs[k], taken)
        for letter, fresh in ties:
            size = x.shape[con.inputs[k].index(letter)]
            pairs.append((letter + fresh, x.builder.constant(np.eye(size), x.dtype)))
        if _needs_own_sizes(con, pairs, target, x.shape):
            pairs.append((target, fn.ones_like(x)))
        equation = ",".join(s for s, _ in pairs) + "->" + target
        if len(pairs) == 1 and pairs[0][0] == target:
            grads.append(g)
        else:
            grads.append(fn.einsum(*(t for _, t in pairs), equation=equation))
    return grads


def _needs_own_sizes(con: Contraction, pairs, subs: str, shape) -> bool:
    """Whether some axis of the operand is not sized by the others and ``g``: a letter only
    it carries, or one they have as 1 (or unknown) where it may be larger."""
    sizes = Contraction(tuple(s for s, _ in pairs), "", con.broadcast).sizes(
        [t.shape for _, t in pairs])
    for letter, d in zip(subs, shape, strict=True):
        if letter not in sizes:
            return True
        if d != 1 and (sizes[letter] is None or sizes[letter] == 1):
            return True
    return False


def _einsum_contraction(attrs, ranks) -> Contraction:
    return resolve(attrs["equation"], ranks)


def _contraction_batch(contraction_of):
    """Batching of an op described by a ``Contraction``: one einsum with a fresh letter
    at each batched operand's batch axis, where it lies, and first in the output."""

    def batch(c: BatchContext):
        con = contraction_of(c.attrs, [example_rank(c, k) for k in range(len(c.inputs))])
        z = next(ch for ch in LETTERS if ch not in "".join(con.inputs) + con.output)
        terms = [s if ax is None else s[:ax % (len(s) + 1)] + z + s[ax % (len(s) + 1):]
                 for s, ax in zip(con.inputs, c.axes, strict=True)]
        return [fn.einsum(*c.inputs, equation=",".join(terms) + "->" + z + con.output)], [0]

    return batch


@kernel
def _einsum_kernel(attrs, specs):
    """The equation made explicit and, for several operands, the contraction order chosen
    once per plan (or once per new set of shapes when some are unknown)."""
    equation = _einsum_contraction(attrs, [len(s.shape) for s in specs]).equation
    if len(specs) == 1:
        return lambda x: np.asarray(np.einsum(equation, x))
    paths: dict[tuple[tuple[int, ...], ...], Any] = {}

    def path_for(shapes):
        path = paths.get(shapes)
        if path is None:
            stand_ins = [np.broadcast_to(np.zeros((), dtype=np.float32), s) for s in shapes]
            path = paths[shapes] = np.einsum_path(equation, *stand_ins, optimize="greedy")[0]
        return path

    static = [s.shape for s in specs]
    if all(is_static(s) for s in static):
        path_for(tuple(tuple(s) for s in static))

    def run(*xs):
        path = path_for(tuple(x.shape for x in xs))
        return np.asarray(np.einsum(equation, *xs, optimize=path))

    return run


def _einsum_transpose(c: VJPContext):
    con = _einsum_contraction(c.attrs, [t.ndim for t in c.inputs])
    return _contraction_vjp(con, c.inputs, c.g)


defop("einsum", aliases=("Einsum",), inputs=(1, None),
      infer=_contraction_infer(_einsum_contraction), forward=_einsum_kernel,
      attrs={"equation": Attr(parse=parse_equation)},
      linear=ALL, multilinear=True, transpose=_einsum_transpose,
      batch=_contraction_batch(_einsum_contraction),
      doc="numpy's einsum: implicit output, '...' broadcasting, letters summed within one "
          "operand, a letter repeated inside one operand (a diagonal, of known size).")


def _tensordot_axes(v: Any) -> int | tuple[tuple[int, ...], tuple[int, ...]]:
    """An int n (the last n axes of a with the first n of b) or a pair of axis lists."""
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 0:
            raise ValueError(f"axes must be >= 0, got {v}")
        return v
    if isinstance(v, (list, tuple)) and len(v) == 2:
        a_axes, b_axes = ((x,) if isinstance(x, int) else x for x in v)
        a_axes, b_axes = parse.int_list(a_axes), parse.int_list(b_axes)
        if len(a_axes) != len(b_axes):
            raise ValueError(f"axes pairs {list(a_axes)} and {list(b_axes)} differ in length")
        return a_axes, b_axes
    raise ValueError(f"axes must be an int or a pair of lists of ints, got {v!r}")


def _tensordot_pairs(axes, ranks) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ra, rb = ranks
    if isinstance(axes, int):
        if axes > min(ra, rb):
            raise ValueError(f"cannot contract {axes} axes of operands of ranks {ra} and {rb}")
        return tuple(range(ra - axes, ra)), tuple(range(axes))
    a_axes = tuple(normalize_axis(a, ra) for a in axes[0])
    b_axes = tuple(normalize_axis(b, rb) for b in axes[1])
    for side, ax in (("a", a_axes), ("b", b_axes)):
        if len(set(ax)) != len(ax):
            raise ValueError(f"axes of {side} repeat an axis: {list(ax)}")
    return a_axes, b_axes


def _tensordot_contraction(attrs, ranks) -> Contraction:
    """tensordot as an einsum: a's axes lettered in order; b shares the contracted ones."""
    a_axes, b_axes = _tensordot_pairs(attrs["axes"], ranks)
    a = LETTERS[:ranks[0]]
    fresh = iter(LETTERS[ranks[0]:])
    shared = {b: a[i] for i, b in zip(a_axes, b_axes, strict=True)}
    b = "".join(shared.get(j) or next(fresh) for j in range(ranks[1]))
    out = "".join(a[i] for i in range(ranks[0]) if i not in a_axes) + "".join(
        b[j] for j in range(ranks[1]) if j not in b_axes)
    return Contraction((a, b), out)


@kernel
def _tensordot_kernel(attrs, specs):
    axes = _tensordot_pairs(attrs["axes"], [len(s.shape) for s in specs])
    return lambda a, b: np.tensordot(a, b, axes=axes)


def _tensordot_transpose(c: VJPContext):
    con = _tensordot_contraction(c.attrs, [t.ndim for t in c.inputs])
    return _contraction_vjp(con, c.inputs, c.g)


defop("tensordot", aliases=("TensorDot",), inputs=2,
      infer=_contraction_infer(_tensordot_contraction), forward=_tensordot_kernel,
      attrs={"axes": Attr(parse=_tensordot_axes)},
      linear=(0, 1), multilinear=True, transpose=_tensordot_transpose,
      batch=_contraction_batch(_tensordot_contraction),
      doc="axes: an int n (a's last n with b's first n) or a pair of axis lists.")
