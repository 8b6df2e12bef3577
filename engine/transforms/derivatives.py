"""Derivative graphs built from reverse mode, forward mode and vmap, all graph to graph.

- ``vjp_graph``: cotangent placeholders for some outputs, their VJP onto the inputs;
- ``jvp_graph``: tangent placeholders for some inputs, the outputs' tangents;
- ``hvp_graph``: the gradient of a scalar and, forward over reverse, its tangent along
  vector placeholders (a Hessian-vector product, no Hessian made);
- ``jacobian_graph``: blocks d out_j / d in_i of shape out_j.shape + in_i.shape, from one
  batched VJP over the output elements (reverse) or one batched JVP over the input
  elements (forward), the batch seeded with the identity;
- ``hessian_graph``: forward-mode Jacobian of the reverse-mode Jacobian.

Each returns ordinary graphs, so every one of them can be differentiated, batched or
transformed again.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .. import fn as F
from ..autodiff import gradients
from ..builder import GraphBuilder, Tensor
from ..dtypes import np_dtype
from ..graph import Graph, Node, Ref, format_ref
from ..shapes import is_static
from .forward import jvp
from .vmap import vmap

MODES = ("auto", "reverse", "forward")


@dataclass(frozen=True)
class Seeded:
    """A graph with seed placeholders (aligned with what they seed; None: not seeded) and
    the refs it computes (None: identically zero)."""

    graph: Graph
    seeds: tuple[str | None, ...]
    results: tuple[Ref | None, ...]


def placeholders_like(graph: Graph, refs: Sequence[Ref | None], stem: str
                      ) -> tuple[Graph, tuple[str | None, ...]]:
    """One placeholder per ref (None: none), shaped like it, under names the graph lacks."""
    b = GraphBuilder(graph)
    names: list[str | None] = []
    for i, ref in enumerate(refs):
        if ref is None:
            names.append(None)
            continue
        spec = graph.spec(ref)
        name = f"{stem}_{i}"
        while name in graph.by_name:
            name += "_"
        names.append(b.placeholder(name, spec.shape, spec.dtype).name)
    return b.finish(), tuple(names)


def vjp_graph(graph: Graph, inputs: Sequence[Ref], outputs: Sequence[Ref | None], *,
              dialect: str = "tensorflow", name: str = "vjp") -> Seeded:
    """Cotangent placeholders for the outputs (None entries: no cotangent) and the
    inputs' cotangents (zeros where unconnected)."""
    seeded, seeds = placeholders_like(graph, outputs, f"{name}/cotangent")
    ys = [o for o in outputs if o is not None]
    grad_ys = [s for s in seeds if s is not None]
    result = gradients(seeded, ys, list(inputs), grad_ys=grad_ys, unconnected="zero",
                       dialect=dialect, name=name)
    return Seeded(result.graph, seeds, result.grads)


def jvp_graph(graph: Graph, inputs: Sequence[Ref | None], outputs: Sequence[Ref], *,
              dialect: str = "tensorflow", name: str = "jvp") -> Seeded:
    """Tangent placeholders for the inputs (None entries: zero tangent), and the outputs'
    tangents (None: zero)."""
    seeded, seeds = placeholders_like(graph, inputs, f"{name}/tangent")
    pairs = [(x, s) for x, s in zip(inputs, seeds, strict=True) if x is not None]
    result = jvp(seeded, [x for x, _ in pairs], [s for _, s in pairs], list(outputs),
                 dialect=dialect, name=name)
    return Seeded(result.graph, seeds, result.tangents)


def hvp_graph(graph: Graph, inputs: Sequence[Ref], output: Ref, vectors: Sequence[bool], *,
              dialect: str = "tensorflow") -> tuple[Seeded, tuple[Ref, ...]]:
    """Forward over reverse: (vector placeholders and the HVPs, the gradients)."""
    grads = gradients(graph, [output], list(inputs), unconnected="zero", dialect=dialect,
                      name="hvp/grad")
    grad_refs = tuple(g for g in grads.grads if g is not None)
    along = [x if v else None for x, v in zip(inputs, vectors, strict=True)]
    return jvp_graph(grads.graph, along, grad_refs, dialect=dialect, name="hvp"), grad_refs


def bind(graph: Graph, values: Mapping[str, np.ndarray]) -> Graph:
    """Leaves of the graph turned into constants of the given values (same names)."""
    nodes = []
    for n in graph.nodes:
        if n.name in values:
            value = np.ascontiguousarray(values[n.name], dtype=np_dtype(n.spec.dtype))
            value.setflags(write=False)
            n = Node(n.name, "constant", (), {}, n.outputs, value=value)
        nodes.append(n)
    return Graph(nodes, [i for i in graph.inputs if i not in values], graph.outputs)


def identity_seeds(graph: Graph, seeds: Sequence[str | None]) -> dict[str, np.ndarray]:
    """Rows of one identity matrix, cut into the seeds' shapes: seed s gets [K, *shape_s]
    with K the total element count, so the K batch members are the basis vectors."""
    shapes = [graph.spec((s, 0)).shape if s else () for s in seeds]
    sizes = [math.prod(sh) if s else 0 for s, sh in zip(seeds, shapes, strict=True)]
    total = sum(sizes)
    out, offset = {}, 0
    for s, shape, size in zip(seeds, shapes, sizes, strict=True):
        if s is not None:
            eye = np.zeros((total, size))
            eye[np.arange(offset, offset + size), np.arange(size)] = 1.0
            out[s] = eye.reshape(total, *shape)
            offset += size
    return out


def pick_mode(graph: Graph, inputs: Sequence[Ref], outputs: Sequence[Ref], mode: str) -> str:
    """``auto``: the smaller batch; reverse on a tie."""
    if mode != "auto":
        return mode
    n_out = sum(math.prod(graph.spec(r).shape) for r in outputs)
    n_in = sum(math.prod(graph.spec(r).shape) for r in inputs)
    return "reverse" if n_out <= n_in else "forward"


def jacobian_graph(graph: Graph, inputs: Sequence[Ref], outputs: Sequence[Ref], *,
                   mode: str = "auto", dialect: str = "tensorflow", name: str = "jacobian"
                   ) -> tuple[Graph, list[list[Ref]]]:
    """Blocks[j][i] = d outputs[j] / d inputs[i], of shape out_j.shape + in_i.shape.

    Static shapes only (a Jacobian's size is its shapes' product)."""
    for r in (*inputs, *outputs):
        assert is_static(graph.spec(r).shape), "jacobian_graph needs static shapes"
    mode = pick_mode(graph, inputs, outputs, mode)
    if mode == "reverse":
        s = vjp_graph(graph, inputs, outputs, dialect=dialect, name=f"{name}/vjp")
    else:
        s = jvp_graph(graph, inputs, outputs, dialect=dialect, name=f"{name}/jvp")
    seeds = [x for x in s.seeds if x is not None]
    eye = identity_seeds(s.graph, s.seeds)
    size = next(iter(eye.values())).shape[0] if eye else 0
    live = [r for r in s.results if r is not None]
    batched, refs = vmap(s.graph, {x: 0 for x in seeds}, size, live)
    b = GraphBuilder(bind(batched, eye), prefix=name)
    by_result = {r: refs[format_ref(r)] for r in live}
    if mode == "reverse":  # results: per input, [n_out_total, *in_i]
        rows = _offsets(graph, outputs)
        blocks = [[_rows(b, by_result.get(res), rows[j], graph.spec(outputs[j]).shape,
                         graph.spec(x).shape, False, graph.spec(x).dtype)
                   for x, res in zip(inputs, s.results, strict=True)]
                  for j in range(len(outputs))]
    else:  # results: per output, [n_in_total, *out_j]
        rows = _offsets(graph, inputs)
        blocks = [[_rows(b, by_result.get(res), rows[i], graph.spec(y).shape,
                         graph.spec(x).shape, True, graph.spec(y).dtype)
                   for i, x in enumerate(inputs)]
                  for y, res in zip(outputs, s.results, strict=True)]
    refs_out = [[t.ref for t in row] for row in blocks]
    return b.finish(outputs=[t for row in blocks for t in row]), refs_out


def hessian_graph(graph: Graph, inputs: Sequence[Ref], outputs: Sequence[Ref], *,
                  dialect: str = "tensorflow") -> tuple[Graph, list[list[list[Ref]]]]:
    """H[j][i][k] = d² outputs[j] / d inputs[i] d inputs[k]: forward over reverse."""
    first, blocks = jacobian_graph(graph, inputs, outputs, mode="reverse", dialect=dialect,
                                   name="hessian/reverse")
    flat = [r for row in blocks for r in row]
    second, jac = jacobian_graph(first, inputs, flat, mode="forward", dialect=dialect,
                                 name="hessian/forward")
    n = len(inputs)
    return second, [[jac[j * n + i] for i in range(n)] for j in range(len(outputs))]


def _offsets(graph: Graph, refs: Sequence[Ref]) -> list[tuple[int, int]]:
    out, start = [], 0
    for r in refs:
        size = math.prod(graph.spec(r).shape)
        out.append((start, size))
        start += size
    return out


def _rows(b: GraphBuilder, ref: Ref | None, rows: tuple[int, int], out_shape: tuple,
          in_shape: tuple, forward: bool, dtype: str) -> Tensor:
    """One block cut from a batched result: its rows, reshaped to out + in axes."""
    shape = [*out_shape, *in_shape]
    if ref is None:
        return b.emit("fill", [], {"shape": shape, "value": 0.0, "dtype": dtype})
    t = b.tensor(ref)
    start, count = rows
    if count != t.shape[0]:
        t = F.slice(t, begin=[start, *[0] * (len(t.shape) - 1)],
                    size=[count, *[-1] * (len(t.shape) - 1)])
    if not forward:  # [n_out_j, *in] -> out + in
        return F.reshape(t, shape=shape)
    t = F.reshape(t, shape=[*in_shape, *out_shape])  # [*in, *out] -> out + in
    k, m = len(in_shape), len(out_shape)
    if k and m:
        t = F.transpose(t, perm=[*range(k, k + m), *range(k)])
    return t
