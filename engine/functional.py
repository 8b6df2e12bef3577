"""The functional toolbox evaluated (API.md section 6): evaluate, jvp, vjp, jacobian,
hessian, hvp, each with ``batched`` (K seeds in one pass) and ``in_axes`` (vmap over
examples) where the contract has them.

A *function* is a graph with named inputs (leaves) and outputs. Every answer is a dict
shaped like the wire answer, keyed by the names exactly as given, dense (zeros where an
output does not depend on an input). Each program (transform, batching, plan) is built
once per distinct graph and options and cached; a request with new feeds only runs it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import mapped
from .api import cached_program, check_feeds, feedable, for_feeds, recall, remember
from .builder import GraphBuilder
from .dtypes import is_floating
from .errors import EngineError
from .graph import Graph, Ref, format_ref
from .mapped import InAxes
from .plan import Plan
from .simplify import simplify
from .transforms.derivatives import (
    MODES,
    hessian_graph,
    hvp_graph,
    jacobian_graph,
    jvp_graph,
    vjp_graph,
)
from .transforms.vmap import vmap

Arrays = Mapping[str, np.ndarray]
Program = tuple[Graph, list[Ref], tuple[str | None, ...]]  # graph, fetches, seed names
Builder = Callable[[], Program]


def evaluate(graph: Graph, feeds: Arrays, outputs: Sequence[str] | None = None, *,
             in_axes: InAxes = None, max_elements: int | None = None) -> dict[str, Any]:
    """``{"values": {out: array}}``: the outputs computed, optionally over a batch."""
    f = _Function(graph, feeds, None, outputs, in_axes, max_elements, need_float=False)
    values = f.run("evaluate", (), lambda: (f.graph, list(f.out_refs), ()), [])
    return {"values": dict(zip(f.outputs, values, strict=True))}


def jvp(graph: Graph, feeds: Arrays, tangents: Arrays, *, inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None, batched: bool = False,
        dialect: str = "tensorflow", in_axes: InAxes = None,
        max_elements: int | None = None) -> dict[str, Any]:
    """Forward mode: ``{"values", "tangents": {out: J·v}}``. A missing tangent is zero;
    with ``batched`` every tangent has a leading axis K and so does every answer tangent.
    ``inputs`` defaults to the tangents' keys."""
    call = _call_key("tangents", graph, inputs, outputs, tangents, in_axes, batched, dialect,
                     max_elements)
    again = _repeat(call, graph, feeds, tangents)
    if again is not None:
        return _one_pass_answer("tangents", *again)
    f = _Function(graph, feeds, inputs, outputs, in_axes, max_elements,
                  inputs_from=("tangents", tangents))
    return _one_pass(f, "tangents", tangents, batched, dialect, call, graph)


def vjp(graph: Graph, feeds: Arrays, cotangents: Arrays, *,
        inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
        batched: bool = False, dialect: str = "tensorflow", in_axes: InAxes = None,
        max_elements: int | None = None) -> dict[str, Any]:
    """Reverse mode: ``{"values", "cotangents": {input: vᵀ·J}}``; K cotangents in one pass
    with ``batched``. A missing cotangent is zero; ``outputs`` defaults to their keys."""
    call = _call_key("cotangents", graph, inputs, outputs, cotangents, in_axes, batched,
                     dialect, max_elements)
    again = _repeat(call, graph, feeds, cotangents)
    if again is not None:
        return _one_pass_answer("cotangents", *again)
    f = _Function(graph, feeds, inputs, outputs, in_axes, max_elements,
                  outputs_from=("cotangents", cotangents))
    return _one_pass(f, "cotangents", cotangents, batched, dialect, call, graph)


def _one_pass(f: _Function, field: str, seeds: Arrays, batched: bool, dialect: str,
              call: Any, graph: Graph) -> dict[str, Any]:
    """jvp (``field`` "tangents": seeds on inputs, results on outputs) or vjp
    ("cotangents": the other way round), K seeds at once when ``batched``."""
    forward = field == "tangents"
    names, refs = (f.inputs, f.in_refs) if forward else (f.outputs, f.out_refs)
    k = f.check_seeds(field, seeds, names, refs, batched)
    f.limit_batch(field, k, f.out_refs if forward else f.in_refs)
    given = tuple(n in seeds for n in names)
    live = [r if g else None for r, g in zip(refs, given, strict=True)]

    def build() -> Program:
        if forward:
            s = jvp_graph(f.graph, live, f.out_refs, dialect=dialect)
        else:
            s = vjp_graph(f.graph, f.in_refs, live, dialect=dialect)
        return f.batch_seeds(s.graph, s.seeds, s.results,
                             f.out_refs if forward else f.in_refs, k)

    results = f.run(field, (given, dialect, k), build, [seeds.get(n) for n in names],
                    (call, graph, seeds, names))
    return _one_pass_answer(field, f.inputs, f.outputs, results)


def _one_pass_answer(field: str, inputs: Sequence[str], outputs: Sequence[str],
                     results: Sequence[np.ndarray]) -> dict[str, Any]:
    values, rest = results[:len(outputs)], results[len(outputs):]
    return {"values": dict(zip(outputs, values, strict=True)),
            field: dict(zip(outputs if field == "tangents" else inputs, rest, strict=True))}


def jacobian(graph: Graph, feeds: Arrays, *, inputs: Sequence[str] | None = None,
             outputs: Sequence[str] | None = None, mode: str = "auto",
             dialect: str = "tensorflow", in_axes: InAxes = None,
             max_elements: int | None = None) -> dict[str, Any]:
    """``{"values", "jacobian": {out: {input: array of out.shape + input.shape}}}``:
    reverse = one batched VJP over the output elements, forward = one batched JVP over the
    input elements, auto = the smaller batch (reverse on a tie)."""
    if mode not in MODES:
        raise EngineError(f"mode must be one of {MODES}, got {mode!r}", loc=("mode",))
    f = _Function(graph, feeds, inputs, outputs, in_axes, max_elements)
    for i, y in enumerate(f.out_refs):
        for x in f.in_refs:
            f.limit(f"the Jacobian of {f.outputs[i]!r} with respect to {format_ref(x)!r}",
                    (*f.graph.spec(y).shape, *f.graph.spec(x).shape), ("outputs", i))

    def build() -> Program:
        g, blocks = jacobian_graph(f.graph, f.in_refs, f.out_refs, mode=mode, dialect=dialect)
        return g, [*f.out_refs, *(r for row in blocks for r in row)], ()

    results = f.run("jacobian", (mode, dialect), build, [])
    n = len(f.inputs)
    flat = iter(results[len(f.outputs):])
    return {"values": dict(zip(f.outputs, results, strict=False)),
            "jacobian": {y: {x: next(flat) for x in f.inputs} for y in f.outputs}
            if n else {y: {} for y in f.outputs}}


def hessian(graph: Graph, feeds: Arrays, *, inputs: Sequence[str] | None = None,
            outputs: Sequence[str] | None = None, dialect: str = "tensorflow",
            in_axes: InAxes = None, max_elements: int | None = None) -> dict[str, Any]:
    """``{"values", "hessian": {out: {in_i: {in_j: out.shape + in_i.shape + in_j.shape}}}}``:
    the forward-mode Jacobian of the reverse-mode Jacobian."""
    f = _Function(graph, feeds, inputs, outputs, in_axes, max_elements)
    for i, y in enumerate(f.out_refs):
        for a in f.in_refs:
            for b in f.in_refs:
                f.limit(f"the Hessian block of {f.outputs[i]!r} with respect to "
                        f"{format_ref(a)!r}, {format_ref(b)!r}",
                        (*f.graph.spec(y).shape, *f.graph.spec(a).shape,
                         *f.graph.spec(b).shape), ("outputs", i))

    def build() -> Program:
        g, blocks = hessian_graph(f.graph, f.in_refs, f.out_refs, dialect=dialect)
        return g, [*f.out_refs, *(r for a in blocks for b in a for r in b)], ()

    results = f.run("hessian", (dialect,), build, [])
    flat = iter(results[len(f.outputs):])
    return {"values": dict(zip(f.outputs, results, strict=False)),
            "hessian": {y: {a: {b: next(flat) for b in f.inputs} for a in f.inputs}
                        for y in f.outputs}}


def hvp(graph: Graph, feeds: Arrays, vectors: Arrays, *, inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None, batched: bool = False,
        dialect: str = "tensorflow", in_axes: InAxes = None,
        max_elements: int | None = None) -> dict[str, Any]:
    """``{"values", "gradient": {input: g}, "hvp": {input: Σ_j H_ij v_j}}`` of one scalar
    output, in one forward-over-reverse pass (no Hessian made); a missing vector is zero.
    ``inputs`` defaults to the vectors' keys."""
    call = _call_key("hvp", graph, inputs, outputs, vectors, in_axes, batched, dialect,
                     max_elements)
    again = _repeat(call, graph, feeds, vectors)
    if again is not None:
        return _hvp_answer(*again)
    f = _Function(graph, feeds, inputs, outputs, in_axes, max_elements,
                  inputs_from=("vectors", vectors))
    if len(f.outputs) != 1 or f.graph.spec(f.out_refs[0]).shape != ():
        shapes = [list(f.graph.spec(r).shape) for r in f.out_refs]
        raise EngineError(f"hvp takes one output of shape []; got {list(f.outputs)} of "
                          f"shapes {shapes}", loc=("outputs",))
    k = f.check_seeds("vectors", vectors, f.inputs, f.in_refs, batched)
    f.limit_batch("vectors", k, f.in_refs)
    given = [x in vectors for x in f.inputs]

    def build() -> Program:
        s, grads = hvp_graph(f.graph, f.in_refs, f.out_refs[0], given, dialect=dialect)
        g, refs, seeds = f.batch_seeds(s.graph, s.seeds, s.results, f.in_refs, k)
        return g, [*refs[:1], *grads, *refs[1:]], seeds

    results = f.run("hvp", (tuple(given), dialect, k), build,
                    [vectors.get(x) for x in f.inputs], (call, graph, vectors, f.inputs))
    return _hvp_answer(f.inputs, f.outputs, results)


def _hvp_answer(inputs: Sequence[str], outputs: Sequence[str], results: Sequence[np.ndarray]
                ) -> dict[str, Any]:
    """The answer's dicts filled by index: dict(zip(..., strict=True)) costs ~2 us more
    once the plan's arrays have pushed zip's code out of the CPU caches."""
    n = len(inputs)
    gradient, hvps = {}, {}
    for i, x in enumerate(inputs):
        gradient[x] = results[1 + i]
        hvps[x] = results[1 + n + i]
    return {"values": {outputs[0]: results[0]}, "gradient": gradient, "hvp": hvps}


# -- the shared machinery ------------------------------------------------------------------


class _Function:
    """A request's function: its graph specialized to the (per-example) feeds, the inputs
    and outputs resolved and checked, and the batch size B when vmapped."""

    def __init__(self, graph: Graph, feeds: Arrays, inputs: Sequence[str] | None,
                 outputs: Sequence[str] | None, in_axes: InAxes, max_elements: int | None,
                 need_float: bool = True, inputs_from: tuple[str, Arrays] | None = None,
                 outputs_from: tuple[str, Arrays] | None = None):
        """``inputs_from`` / ``outputs_from``: (field, seeds) whose keys are the default
        inputs / outputs (a fault in one of them is then named by its key there)."""
        check_feeds(graph, feeds)
        self.feeds = dict(feeds)
        self.in_axes = dict(in_axes or {})
        self.max_elements = max_elements
        self.size = mapped.batch_size(feeds, self.in_axes)
        self.graph = graph = for_feeds(graph, mapped.example_feeds(graph, feeds, self.in_axes),
                                       max_elements)
        in_loc = _locator("inputs", inputs, inputs_from)
        if inputs is None:
            inputs = list(inputs_from[1]) if inputs_from else [
                x for x in graph.inputs if is_floating(graph.by_name[x].spec.dtype)]
        self.inputs = list(inputs)
        self.in_refs = []
        for i, x in enumerate(self.inputs):
            ref = graph.resolve(x, loc=in_loc(i, x))
            node = graph.by_name[ref[0]]
            if node.op not in ("placeholder", "variable"):
                raise EngineError(f"input {x!r} is a {node.op}; inputs name placeholders "
                                  "and variables", node=ref[0], loc=in_loc(i, x))
            if need_float and not is_floating(node.spec.dtype):
                raise EngineError(f"input {x!r} is {node.spec.dtype}; derivatives are taken "
                                  "only with respect to floating inputs", node=ref[0],
                                  loc=in_loc(i, x))
            self.in_refs.append(ref)
        out_loc = _locator("outputs", outputs, outputs_from)
        if outputs is None:
            outputs = list(outputs_from[1]) if outputs_from else [
                format_ref(r) for r in graph.outputs]
        self.outputs = list(outputs)
        self.out_refs = [graph.resolve(y, loc=out_loc(i, y)) for i, y in enumerate(outputs)]
        for i, r in enumerate(self.out_refs):
            if need_float and not is_floating(graph.spec(r).dtype):
                raise EngineError(f"output {self.outputs[i]!r} is {graph.spec(r).dtype}; "
                                  "derivatives are taken only of floating outputs",
                                  node=r[0], loc=out_loc(i, self.outputs[i]))

    def limit(self, what: str, shape: Sequence[int | None], loc: Sequence[str | int]) -> None:
        """Refuse a result over max_elements (with the B examples in front when mapped)."""
        if self.size is not None:
            what, shape = f"{what} over B = {self.size} examples", (self.size, *shape)
        mapped.limit(what, [d or 0 for d in shape], self.max_elements, loc)

    def check_seeds(self, field: str, seeds: Arrays, names: Sequence[str],
                    refs: Sequence[Ref], batched: bool) -> int | None:
        """Each seed of exactly its tensor's shape (K in front if batched) and dtype;
        answers K (None when not batched)."""
        k: int | None = None
        for key in seeds:
            if key not in names:
                raise EngineError(f"{field} names {key!r}, which is not one of the listed "
                                  f"{list(names)}", loc=(field, key))
        for name, ref in zip(names, refs, strict=True):
            if name not in seeds:
                continue
            value, spec = np.asarray(seeds[name]), self.graph.spec(ref)
            shape = value.shape
            if batched:
                if not shape:
                    raise EngineError(f"{field}[{name!r}] needs a leading batch axis K",
                                      loc=(field, name))
                if k is not None and shape[0] != k:
                    raise EngineError(f"{field}[{name!r}] has K = {shape[0]}, but another "
                                      f"entry has K = {k}", loc=(field, name))
                k, shape = shape[0], shape[1:]
            if value.dtype.name != spec.dtype or tuple(shape) != tuple(spec.shape):
                want = ([k] if batched else []) + list(spec.shape)
                raise EngineError(f"{field}[{name!r}] is {value.dtype.name}{list(value.shape)};"
                                  f" it must be {spec.dtype}{want}", loc=(field, name))
        if batched and k is None:
            raise EngineError(f"batched needs at least one entry in {field}", loc=(field,))
        return k

    def limit_batch(self, field: str, k: int | None, refs: Sequence[Ref]) -> None:
        """Refuse K seeds whose K answers would be over max_elements."""
        if k is not None:
            for ref in refs:
                self.limit(f"the answer for K = {k} {field} at {format_ref(ref)!r}",
                           (k, *self.graph.spec(ref).shape), (field,))

    def batch_seeds(self, graph: Graph, seeds: Sequence[str | None],
                    results: Sequence[Ref | None], like: Sequence[Ref], k: int | None
                    ) -> Program:
        """The outputs' values then the results (zeros shaped like ``like`` where None),
        the seeds batched over K if given."""
        b = GraphBuilder(graph, prefix="zeros")
        dense = [r if r is not None else b.emit("fill", [], {
            "shape": list(self.graph.spec(x).shape), "value": 0.0,
            "dtype": self.graph.spec(x).dtype}).ref for r, x in zip(results, like, strict=True)]
        graph = b.finish()
        if k is None:
            return graph, [*self.out_refs, *dense], tuple(seeds)
        batched, refs = vmap(graph, {s: 0 for s in seeds if s is not None}, k, dense)
        return batched, [*self.out_refs, *(refs[format_ref(r)] for r in dense)], tuple(seeds)

    def run(self, kind: str, options: tuple, build: Builder,
            seed_values: Sequence[np.ndarray | None],
            remembered: tuple[Any, Graph, Arrays, Sequence[str]] | None = None
            ) -> list[np.ndarray]:
        """Build (once per graph, options and vmap) and run the program. ``remembered``:
        (the call's key, its graph, its seeds by name, the names the seed values align
        with): a call that succeeds on a static, unmapped graph is remembered, for
        ``_repeat`` to take straight to the plan."""
        axes = tuple(sorted(self.in_axes.items()))
        key = (kind, self.graph.key, tuple(self.inputs), tuple(self.outputs), options, axes,
               self.size, self.max_elements)
        held, _ = cached_program(key, lambda: self._plan(build))
        feeds = dict(self.feeds)
        feeds.update((s, v) for s, v in zip(held.seeds, seed_values, strict=False) if s)
        results = held.plan.run(feeds)
        if remembered is not None and remembered[0] is not None \
                and self.graph is remembered[1] and self.size is None:
            given = remembered[2]
            pairs = tuple((s, x) for s, x in zip(held.seeds, remembered[3], strict=False) if s)
            remember(remembered[0], _Call(key, self.inputs, self.outputs, pairs, {
                n: (v.dtype, v.shape) for n, v in map(_as_array, given.items())},
                feedable(self.graph)), held)
        return results

    def _plan(self, build: Builder) -> _Held:
        graph, fetches, seeds = build()
        graph, renamed = simplify(graph, fetches, protected=self.graph.by_name,
                                  forward=True)
        fetches = [renamed[f] for f in fetches]
        graph, fetches = mapped.batched(graph, fetches, self.in_axes, self.size,
                                        self.max_elements)
        return _Held(seeds, Plan(graph, fetches))


@dataclass(frozen=True, slots=True, weakref_slot=True)
class _Held:
    """A cached program: its seed placeholders' names (aligned with the seed values) and
    its plan; weakly referenced by the calls remembered for it (``api.recall``)."""

    seeds: tuple[str | None, ...]
    plan: Plan


class _Call(NamedTuple):
    """What a repeated call needs: its program's key, the inputs and outputs it resolved,
    each seed placeholder with the name it takes its value from (an input, or for vjp an
    output), and each seed's dtype and shape as they were (a seed unlike them takes the
    long way, which checks it and names what is wrong)."""

    key: Any
    inputs: list[str]
    outputs: list[str]
    pairs: tuple[tuple[str, str], ...]
    seeds: dict[str, tuple[np.dtype, tuple[int, ...]]]
    feedable: frozenset[str]  # what the graph lets be fed


def _call_key(kind: str, graph: Graph, inputs: Sequence[str] | None,
              outputs: Sequence[str] | None, seeds: Arrays, in_axes: InAxes, *options: Any
              ) -> Any:
    """What identifies a repeated call before any name is resolved (None: not
    remembered): the arguments as given, the seeds' names (in order: they may be the
    inputs), the options. A mapped call is not (its program depends on B). It may be
    unhashable (``recall`` and ``remember`` see to that)."""
    if in_axes:
        return None
    try:
        return ("functional", kind, graph.key, None if inputs is None else tuple(inputs),
                None if outputs is None else tuple(outputs), tuple(seeds), options)
    except TypeError:  # inputs or outputs not iterable: the long way says why
        return None


def _repeat(call: Any, graph: Graph, feeds: Arrays, seeds: Arrays
            ) -> tuple[list[str], list[str], list[np.ndarray]] | None:
    """(inputs, outputs, results) of a call made before on the same graph with seeds
    like these, its program run on the new feeds; None: take the long way."""
    recalled = recall(call)
    if recalled is None:
        return None
    entry, held = recalled
    for name, (dtype, shape) in entry.seeds.items():
        value = seeds[name]
        if type(value) is not np.ndarray:
            value = np.asarray(value)
        if value.dtype != dtype or value.shape != shape:
            return None
    if not entry.feedable.issuperset(feeds):
        check_feeds(graph, feeds)  # names the feed that cannot be fed
    fed = dict(feeds)
    for placeholder, name in entry.pairs:
        fed[placeholder] = seeds[name]
    return entry.inputs, entry.outputs, held.plan.run(fed)


def _as_array(item: tuple[str, Any]) -> tuple[str, np.ndarray]:
    return item[0], np.asarray(item[1])


def _locator(field: str, given: Sequence[str] | None, default_from: tuple[str, Arrays] | None
             ) -> Callable[[int, str], tuple[str | int, ...]]:
    """Where the i-th input (output) named x was written: ``field[i]``, or the seed key it
    was taken from when ``field`` was left out."""
    if given is None and default_from is not None:
        return lambda _, x: (default_from[0], x)
    return lambda i, _: (field, i)
