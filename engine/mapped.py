"""A request mapped over examples (API.md's ``vmap: {"in_axes": ...}``), the one path every
evaluated entry point takes: B from the mapped feeds, one example's stand-in feeds to
specialize the graph with, and the finished program's fetches batched by ``vmap``.

Also the size limit of a finished program: every tensor it will hold is checked against
``max_elements`` from static shapes, before its plan is made or anything allocated (the
graphs a request brings were checked when built; a Jacobian, a batch of K seeds or of B
examples makes tensors bigger than any of them).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import EngineError, LimitError
from .graph import Graph, Ref, format_ref
from .shapes import compatible, fmt, known_elements
from .transforms.vmap import vmap

InAxes = Mapping[str, int] | None


def example_shaped(value: Any, axis: int | None) -> Any:
    """A stand-in with one example's shape (no data), for specializing the graph."""
    if axis is None:
        return value
    shape = list(np.shape(value))
    del shape[axis]
    return np.broadcast_to(np.empty((), dtype=np.asarray(value).dtype), shape)


def example_feeds(graph: Graph, feeds: Mapping[str, Any], in_axes: Mapping[str, int]
                  ) -> dict[str, Any]:
    """The feeds as one example sees them; a mapped feed whose examples do not fit the
    node's declared shape is refused here, naming its axis (not, later, its batch)."""
    example = {k: example_shaped(v, in_axes.get(k)) for k, v in feeds.items()}
    for name in in_axes:
        declared = graph.by_name[name].spec.shape
        if not compatible(np.shape(example[name]), declared):
            raise EngineError(f"in_axes[{name!r}] = {in_axes[name]} makes examples of shape "
                              f"{fmt(np.shape(example[name]))} out of a feed of shape "
                              f"{fmt(np.shape(feeds[name]))}, but {name!r} is declared "
                              f"{fmt(declared)}", node=name, loc=("in_axes", name))
    return example


def batch_size(feeds: Mapping[str, Any], in_axes: Mapping[str, int]) -> int | None:
    """B, the one size every mapped feed has on its axis; the culprit named otherwise."""
    sizes: dict[str, int] = {}
    for name, axis in in_axes.items():
        if name not in feeds:
            raise EngineError(f"in_axes names {name!r}, which is not a feed of the request",
                              loc=("in_axes", name))
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise EngineError(f"in_axes[{name!r}] must be an int, got {axis!r}",
                              loc=("in_axes", name))
        shape = np.shape(feeds[name])
        if not -len(shape) <= axis < len(shape):
            raise EngineError(f"in_axes[{name!r}] = {axis} is out of range for a feed of "
                              f"shape {list(shape)}", loc=("in_axes", name))
        sizes[name] = shape[axis]
    if len(set(sizes.values())) > 1:
        raise EngineError(f"mapped feeds of different sizes {sizes}",
                          loc=("in_axes", sorted(sizes)[-1]))
    return next(iter(sizes.values())) if sizes else None


def batched(graph: Graph, fetches: Sequence[Ref], in_axes: Mapping[str, int],
            size: int | None, max_elements: int | None = None) -> tuple[Graph, list[Ref]]:
    """The program (graph, fetches) mapped over ``size`` examples when ``in_axes`` names
    any feed (else as it is), its tensors checked against ``max_elements``."""
    if in_axes:
        graph, refs = vmap(graph, in_axes, size or 0, fetches)
        fetches = [refs[format_ref(r)] for r in fetches]
        why = f"vmap over B = {size} examples"
    else:
        why = "the computation"
    check_elements(graph, fetches, max_elements, why)
    return graph, list(fetches)


def check_elements(graph: Graph, fetches: Sequence[Ref], max_elements: int | None,
                   why: str, loc: Sequence[str | int] = ("in_axes",)) -> None:
    """Refuse (``LimitError``) a program holding a tensor over ``max_elements``."""
    if max_elements is None:
        return
    # The usual case first, in one cheap sweep: no tensor of the graph is over the limit
    # (its nodes share a handful of spec objects, and of output tuples: those are
    # gathered first); only then which needed node is.
    tuples = {id(n.outputs): n.outputs for n in graph.nodes}
    specs = {id(s): s for outputs in tuples.values() for s in outputs}
    if all(known_elements(s.shape) <= max_elements for s in specs.values()):
        return
    needed = _needed(graph, fetches)
    for node in graph.nodes:
        if node.name not in needed:
            continue
        for spec in node.outputs:
            n = known_elements(spec.shape)
            if n > max_elements:
                raise LimitError(f"{why} makes a tensor of shape {fmt(spec.shape)} ({n} "
                                 f"elements, at {node.name!r}); the limit max_elements is "
                                 f"{max_elements} elements per tensor", loc=loc)


def limit(what: str, shape: Sequence[int], max_elements: int | None,
          loc: Sequence[str | int]) -> None:
    """Refuse a result (a Jacobian block, K seeds' answers) over ``max_elements``."""
    n = known_elements(tuple(shape))
    if max_elements is not None and n > max_elements:
        raise LimitError(f"{what} has shape {fmt(tuple(shape))} ({n} elements); the limit "
                         f"max_elements is {max_elements} elements per tensor", loc=loc)


def _needed(graph: Graph, fetches: Sequence[Ref]) -> set[str]:
    """The nodes the fetches depend on (what a plan of them would hold)."""
    need = {r[0] for r in fetches}
    for node in reversed(graph.nodes):
        if node.name in need:
            need.update(src for src, _ in node.inputs)
    return need
