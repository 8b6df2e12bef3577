"""Feed sets in, per-example gradients out, with the engine alone (no Ray here).

A dataset is a sequence of examples, each a feed set (placeholder name -> tensor):
a JSONL line is one feed set in the wire form of API.md (nested lists, typed or base64
tensors); a Parquet row is one, a column per placeholder; an ``.npz`` holds arrays that
are split along a vmap axis (example ``i`` is ``array.take(i, axis)`` of every array).

Per-example gradients: one vectorized pass per batch, the engine's reverse mode under its
vmap (``engine.vjp`` with ``in_axes`` over the fed placeholders): the gradient graph is
batched over the examples, so the weights' gradients come out per example with the batch
axis leading (not summed over the batch, as stacking along a batch dimension would give).
A graph vmap refuses (a shape it needs static) falls back to one plan run per example.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

import engine
from engine import EngineError, Graph

from ..codec import decode_at
from ..graph_cache import GraphCache
from ..problems import ProblemError
from ..settings import Settings


class BatchError(ValueError):
    """A graph, feed set or argument the job refuses; the message names what and where."""


def load_graph(path: Path, settings: Settings | None = None) -> tuple[dict[str, Any], Graph]:
    """A graph description file (the wire ``graph`` object) and the Graph it builds."""
    settings = settings or Settings(workers=1)
    try:
        raw = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BatchError(f"{path}: {exc}") from None
    return raw, build_graph(raw, settings)


def build_graph(raw: dict[str, Any], settings: Settings) -> Graph:
    cache = GraphCache(0, settings.max_nodes, settings.max_elements)
    try:
        graph, _ = cache.get(raw, ["graph"])
    except ProblemError as exc:
        raise BatchError(exc.detail) from None
    except EngineError as exc:
        raise BatchError(f"the graph: {exc}") from None
    return graph


def decode_feeds(graph: Graph, raw: Mapping[str, Any], where: str,
                 max_elements: int) -> dict[str, np.ndarray]:
    """One feed set, each tensor decoded with the dtype of the node it feeds."""
    feeds = {}
    for name, value in raw.items():
        node = graph.by_name.get(name)
        if node is None:
            raise BatchError(f"{where}: {name!r} is not a node of the graph")
        try:
            feeds[name] = decode_at(_plain(value), node.spec.dtype, max_elements,
                                    [where, name])
        except ProblemError as exc:
            raise BatchError(exc.detail) from None
    return feeds


def _plain(value: Any) -> Any:
    """A columnar cell (numpy, or numpy object arrays of arrays for Parquet lists) as the
    nested lists the wire codec checks."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value] if value.dtype == object else value.tolist()
    return value


def jsonl_examples(graph: Graph, lines: Iterable[str | bytes], max_elements: int,
                   first: int = 0) -> Iterator[dict[str, np.ndarray]]:
    for i, line in enumerate(lines, start=first):
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BatchError(f"feed set {i}: not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise BatchError(f"feed set {i}: expected an object of feeds")
        yield decode_feeds(graph, raw, f"feed set {i}", max_elements)


def row_examples(graph: Graph, columns: Mapping[str, Any], max_elements: int
                 ) -> Iterator[dict[str, np.ndarray]]:
    """Rows of a columnar batch (Parquet): one feed set per row."""
    n = len(next(iter(columns.values()))) if columns else 0
    for i in range(n):
        yield decode_feeds(graph, {k: v[i] for k, v in columns.items()}, f"row {i}",
                           max_elements)


def axis_batch(graph: Graph, arrays: Mapping[str, np.ndarray], ids: Sequence[int],
               axis: int) -> dict[str, np.ndarray]:
    """Examples ``ids`` of every array, taken along ``axis`` and stacked on axis 0, cast to
    each node's dtype."""
    out = {}
    for name, array in arrays.items():
        node = graph.by_name.get(name)
        if node is None:
            raise BatchError(f"the .npz array {name!r} is not a node of the graph")
        taken = np.moveaxis(np.take(array, np.asarray(ids, dtype=np.intp), axis=axis), axis, 0)
        out[name] = taken.astype(node.spec.dtype, copy=False)
    return out


def axis_length(arrays: Mapping[str, np.ndarray], axis: int) -> int:
    sizes = {k: a.shape[axis] for k, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise BatchError(f"the arrays differ in length along axis {axis}: {sizes}")
    return next(iter(sizes.values()))


def stack(examples: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Feed sets as one batch, each name's tensors stacked on a new leading axis."""
    columns: dict[str, list[np.ndarray]] = {}
    for n, feeds in enumerate(examples):
        if n and set(feeds) != set(columns):
            raise BatchError(f"feed set {n} feeds {sorted(feeds)}, the first fed "
                             f"{sorted(columns)}")
        for name, value in feeds.items():
            columns.setdefault(name, []).append(value)
    try:
        return {name: np.stack(values) for name, values in columns.items()}
    except ValueError as exc:
        raise BatchError(f"the feed sets' shapes differ: {exc}") from None


def per_example_gradients(graph: Graph, batch: Mapping[str, np.ndarray], ys: Sequence[str],
                          xs: Sequence[str]) -> dict[str, np.ndarray]:
    """d(sum of ys)/d(each x) for every example of ``batch`` (fed tensors stacked on axis
    0): ``{x: array[n, *x.shape]}``, in one vectorized pass."""
    n = len(next(iter(batch.values()))) if batch else 0
    if n == 0:
        return {x: np.zeros((0, *_shape(graph, x)), graph.spec(graph.resolve(x)).dtype)
                for x in xs}
    seeds = {}
    for y in ys:
        spec = graph.spec(graph.resolve(y))
        seeds[y] = np.ones(tuple(spec.shape), spec.dtype)
    try:
        out = engine.vjp(graph, dict(batch), seeds, inputs=list(xs), outputs=list(ys),
                         in_axes=dict.fromkeys(batch, 0))
    except EngineError as exc:
        if not exc.message.startswith("vmap"):  # vmap refused the graph
            raise BatchError(f"the batch: {exc}") from None
        return per_example_loop(graph, batch, n, ys, xs)
    return {x: np.asarray(out["cotangents"][x]) for x in xs}


def per_example_loop(graph: Graph, batch: Mapping[str, np.ndarray], n: int,
                     ys: Sequence[str], xs: Sequence[str]) -> dict[str, np.ndarray]:
    """The same gradients with one plan run per example (the engine's plan is cached)."""
    columns: dict[str, list[np.ndarray]] = {x: [] for x in xs}
    for i in range(n):
        feeds = {k: v[i] for k, v in batch.items()}
        try:
            out = engine.compute_gradients(graph, feeds, ys, xs, unconnected="zero")
        except EngineError as exc:
            raise BatchError(f"example {i}: {exc}") from None
        for x, g in zip(xs, out.gradients, strict=True):
            columns[x].append(g)
    return {x: np.stack(v) for x, v in columns.items()}


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(d or 0 for d in graph.spec(graph.resolve(name)).shape)


def default_names(raw: dict[str, Any], graph: Graph) -> tuple[list[str], list[str]]:
    """ys: the graph's outputs; xs: its trainable variables (per-example weight
    gradients), else its inputs."""
    xs = [n["name"] for n in raw.get("nodes", [])
          if str(n.get("op", "")).lower() in ("variable", "parameter")
          and n.get("trainable", True)]
    return [_ref_name(y) for y in graph.outputs], xs or list(graph.inputs)


def _ref_name(ref: Any) -> str:
    if isinstance(ref, str):
        return ref
    name, k = ref
    return name if k == 0 else f"{name}:{k}"
