"""The engine's front door: compute gradients from arrays, paying once per distinct graph.

``compute_gradients`` (tf.gradients) and ``compute_grad_operation`` (GradOperation) take
a validated ``Graph`` and numpy arrays and give numpy arrays back. Differentiation and
planning are cached by content in bounded LRUs (``configure_caches``, ``cache_stats``), so
a repeated request with new feeds only runs the arithmetic.
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .autodiff import aligned_seeds, gradients
from .builder import GraphBuilder
from .cache import LRUCache
from .collector import pausing
from .errors import EngineError, FeedError
from .grad_operation import GradOperation, grad_operation
from .graph import Graph, Ref, format_ref
from .mapped import InAxes, batch_size, batched, example_feeds
from .plan import Plan
from .shapes import compatible, fmt
from .simplify import simplify
from .specialize import dynamic_placeholders, specialize

NODE_BUDGET = 1_000_000  # nodes one cache of a process may hold in all


def _plan_nodes(entry: Any) -> int:
    """Nodes a cached program holds: its (differentiated) graph's."""
    plan = entry[1] if isinstance(entry, tuple) else getattr(entry, "plan", entry)
    return len(plan.graph)


_PROGRAMS: LRUCache[Any] = LRUCache(256, NODE_BUDGET, _plan_nodes)
_SPECIALIZED: LRUCache[Graph] = LRUCache(128, NODE_BUDGET, len)
_DYNAMIC: LRUCache[tuple[str, ...]] = LRUCache(256)



def cached_program(key: Any, make: Any) -> tuple[Any, bool]:
    """The program cache, for the engine's other evaluated entry points (functional,
    mindspore2): ``make()`` once per key; an entry is a Plan, a tuple (..., Plan) or has
    the Plan as ``plan``."""
    return _PROGRAMS.get_or_make(key, make)


def configure_caches(*, programs: int | None = None, clear: bool = False) -> None:
    """Bound the number of cached programs (differentiated, planned graphs; 0 disables
    caching), and/or drop everything cached."""
    if programs is not None:
        _PROGRAMS.maxsize = programs
    if clear:
        for cache in _CACHES.values():
            cache.clear()


def cache_stats() -> dict[str, dict[str, int]]:
    """Entries, hits and misses of each of the engine's caches in this process."""
    return {name: {"entries": len(c), "hits": c.hits, "misses": c.misses}
            for name, c in _CACHES.items()}


@dataclass(slots=True)
class GradientsOutput:
    gradients: list[np.ndarray | None]  # aligned with xs
    values: list[np.ndarray] | None = None  # aligned with ys
    graph: Graph | None = None
    gradient_nodes: list[str | None] | None = None
    cache_hit: bool = False


@dataclass(frozen=True)
class _Program:
    plan: Plan
    grads: tuple[Ref | None, ...]
    seeds: tuple[str | None, ...]  # placeholder fed with each given grad_y
    y_refs: tuple[Ref, ...]
    graph: Graph
    returns_values: bool = False
    dense: bool = False  # every x has a gradient: the results are the gradients as they are


def run(graph: Graph, fetches: Sequence[str], feeds: Mapping[str, Any] | None = None
        ) -> list[np.ndarray]:
    """Evaluate tensors of a graph (cached plan), specialized to the fed shapes first (a
    kernel bound to unknown dimensions could compute the wrong thing, e.g. squeeze)."""
    feeds = dict(feeds or {})
    graph = for_feeds(graph, feeds)
    refs = tuple(graph.resolve(f, loc=("fetches", i)) for i, f in enumerate(fetches))
    plan, _ = _PROGRAMS.get_or_make(("run", graph.key, refs), lambda: Plan(graph, refs))
    return plan.run(feeds)


def for_feeds(graph: Graph, feeds: Mapping[str, Any], max_elements: int | None = None
              ) -> Graph:
    """``graph`` itself when its shapes are static, else specialized to the fed shapes."""
    dynamic, _ = _DYNAMIC.get_or_make(graph.key, lambda: dynamic_placeholders(graph))
    if not dynamic:
        return graph
    shapes: dict[str, tuple[int, ...]] = {}
    for name in dynamic:
        if name in feeds:
            shape = tuple(np.shape(feeds[name]))
            declared = graph.by_name[name].spec.shape
            if not compatible(shape, declared):
                raise FeedError(f"fed shape {fmt(shape)} does not fit the declared "
                                f"{fmt(declared)}", node=name, loc=("feeds", name))
            shapes[name] = shape
    key = (graph.key, tuple(sorted(shapes.items())), max_elements)
    specialized, _ = _SPECIALIZED.get_or_make(key, lambda: specialize(graph, shapes,
                                                                      max_elements))
    return specialized


def feedable(graph: Graph) -> frozenset[str]:
    """The names ``check_feeds`` accepts: a repeated call holds them, so that its feeds
    are checked by one set operation (``check_feeds`` then says what is wrong)."""
    return frozenset(n.name for n in graph.nodes if n.op in ("placeholder", "variable"))


def check_feeds(graph: Graph, feeds: Mapping[str, Any], where: str = "feeds") -> None:
    """Only placeholders and variables can be fed."""
    for name in feeds:
        node = graph.by_name.get(name)
        if node is None:
            raise EngineError(f"{where} names {name!r}, which is not a node of the graph",
                              loc=(where, name))
        if node.op not in ("placeholder", "variable"):
            raise EngineError(f"{name!r} is a {node.op}; only placeholders and variables "
                              "can be fed", node=name, loc=(where, name))


def compute_gradients(
    graph: Graph,
    feeds: Mapping[str, Any],
    ys: Sequence[str | Ref] | str,
    xs: Sequence[str] | str,
    grad_ys: Sequence[np.ndarray | str | None] | None = None,
    stop_gradients: Sequence[str] = (),
    unconnected: str = "none",
    aggregation: str = "add_n",
    dialect: str = "tensorflow",
    name: str = "gradients",
    return_values: bool = False,
    return_graph: bool = False,
    max_elements: int | None = None,
    in_axes: InAxes = None,
) -> GradientsOutput:
    """tf.gradients evaluated: one array (or None) per x, aligned with ``xs``.

    ``ys`` are tensor names or refs already resolved (``Graph.resolve_all``) by a caller
    that needed their specs; names are resolved here, once, and nowhere after.

    A graph with unknown dimensions is first specialized to the fed shapes (so every y
    has a static shape and each grad_y is checked against it exactly, before anything
    runs); with ``max_elements`` every inferred tensor is checked against the limit too.
    A grad_y given as a string names a node of the graph as the seed (API.md's
    ``{"node": NAME}``), so the gradient depends on that node.

    ``in_axes`` maps the computation over examples (API.md's ``vmap``): the gradient
    graph of one example, batched; grad_ys are shared and have the example's shapes. A
    returned graph is the one example's.
    """
    call = None
    if not (return_graph or in_axes):
        # What identifies a repeated call before any name is resolved: ys and xs as given,
        # what each seed is, and the options; only a call that went on to succeed on a
        # static graph is remembered under it. Spelled out here, as is the common case's
        # run: each function the repeated path calls costs ~0.6 us out of the CPU's caches.
        try:  # (recall, spelled out)
            call = (graph._key or graph.key, (ys,) if isinstance(ys, str) else tuple(ys),
                    (xs,) if isinstance(xs, str) else tuple(xs),
                    None if grad_ys is None else tuple(map(_seed_key, grad_ys)),
                    tuple(stop_gradients), unconnected, aggregation, dialect, name,
                    return_values)
            recalled = _CALLS.get_linked(call, _PROGRAMS)
        except TypeError:  # ys, xs or stop_gradients not iterable, or an argument not
            call = recalled = None  # hashable: the long way says why, or is not remembered
        if recalled is not None:  # a static graph called as before: straight to the feeds
            entry, program = recalled
            if not entry.feedable.issuperset(feeds):
                check_feeds(graph, feeds)  # names the feed that cannot be fed
            if grad_ys is None and program.dense:  # the common case, without _evaluate
                results = program.plan.run(feeds)
                if not program.returns_values:
                    return GradientsOutput(results, None, None, None, True)
                n = len(program.grads)
                return GradientsOutput(results[:n], results[n:], None, None, True)
            return _evaluate(program, graph, feeds, grad_ys, True)
    y_refs = graph.resolve_all(ys, "ys")
    xs = (xs,) if isinstance(xs, str) else tuple(xs)
    grad_ys = aligned_seeds(grad_ys, len(y_refs))
    check_feeds(graph, feeds)
    mapping = _Mapping(dict(in_axes or {}), batch_size(feeds, in_axes or {}), max_elements)
    specialized = for_feeds(graph, example_feeds(graph, feeds, mapping.axes), max_elements)
    options = dict(stop_gradients=list(stop_gradients), unconnected=unconnected,
                   aggregation=aggregation, dialect=dialect, name=name)
    if return_graph:
        program, hit = _make_program(specialized, y_refs, xs, grad_ys, options, return_values,
                                     mapping, bake=True), False
    else:
        key = ("gradients", specialized.key, y_refs, xs, tuple(_seed_key(g) for g in grad_ys),
               tuple(stop_gradients), unconnected, aggregation, dialect, name, return_values,
               mapping.key())
        program, hit = _PROGRAMS.get_or_make(key, lambda: _make_program(
            specialized, y_refs, xs, grad_ys, options, return_values, mapping))
        if specialized is graph:
            remember(call, _Remembered(key, feedable(graph)), program)
    out = _evaluate(program, specialized, feeds, grad_ys, hit)
    if return_graph:
        out.graph = program.graph
        out.gradient_nodes = [format_ref(g) if g is not None else None for g in program.grads]
    return out


_CALLS: LRUCache[Any] = LRUCache(1024)  # a call's own arguments -> what it resolved to
_CACHES = {"programs": _PROGRAMS, "specialized": _SPECIALIZED, "dynamic": _DYNAMIC,
           "calls": _CALLS}


class _Remembered(NamedTuple):
    key: Any  # the program's key in _PROGRAMS
    feedable: frozenset[str]  # what the graph lets be fed


def hashable(key: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """``key`` if it can key a cache, else None (a call with an unhashable argument is
    simply not remembered)."""
    try:
        hash(key)
    except TypeError:
        return None
    return key


def recall(call: Any) -> tuple[Any, Any] | None:
    """(what was remembered under a call's own arguments, its program) while both are
    cached; None: take the long way. The entry point that remembered it (``remember`` of
    an entry with the program's ``key``) checks what the entry says before using it. A
    call is hashed here only (an unhashable one was never remembered). The program comes
    from the call's weak reference (it lives while its cache holds it), the program cache
    only marks it used: one lookup of its key, not two."""
    if call is None:
        return None
    try:
        return _CALLS.get_linked(call, _PROGRAMS)
    except TypeError:
        return None


def remember(call: Any, entry: Any, program: Any) -> None:
    """Keep ``entry`` (its ``key`` that of the cached ``program``) for the call, if it can
    key a cache (a call with an unhashable argument is simply not remembered)."""
    if call is not None and hashable(call) is not None:
        _CALLS.put(call, (entry, weakref.ref(program)))


def _evaluate(program: _Program, graph: Graph, feeds: Mapping[str, Any],
              grad_ys: Sequence[Any] | None, hit: bool) -> GradientsOutput:
    """Run a program on the feeds and the given seeds (each checked against its y)."""
    all_feeds = feeds
    if grad_ys is not None:
        for i, (ref, seed, gy) in enumerate(zip(
                program.y_refs, program.seeds, aligned_seeds(grad_ys, len(program.y_refs)),
                strict=True)):
            if gy is not None and not isinstance(gy, str):
                _check_seed(graph, ref, gy, ("grad_ys", i))
                if seed is not None:
                    all_feeds = all_feeds if all_feeds is not feeds else dict(feeds)
                    all_feeds[seed] = gy
    results = program.plan.run(all_feeds)
    if program.dense:  # the gradients first, then the values (if fetched)
        if not program.returns_values:
            return GradientsOutput(results, None, None, None, hit)
        n = len(program.grads)
        return GradientsOutput(results[:n], results[n:], None, None, hit)
    grad_iter = iter(results)
    grads = [next(grad_iter) if g is not None else None for g in program.grads]
    values = list(grad_iter) if program.returns_values else None
    return GradientsOutput(grads, values, None, None, hit)


def _seed_key(seed: Any) -> Any:
    """What of a seed shapes the program: a node's name, or whether a value is given."""
    return seed if isinstance(seed, str) else seed is not None


def _check_seed_node(graph: Graph, ref: Ref, name: str, loc: tuple[str | int, ...]) -> None:
    """A seed named as a node of the graph: it must exist and match its tensor exactly."""
    spec = graph.spec(graph.resolve(name, loc=loc))
    _check_seed(graph, ref, np.broadcast_to(np.zeros((), spec.dtype), spec.shape), loc)


def _check_seed(graph: Graph, ref: Ref, value: np.ndarray, loc: tuple[str | int, ...]) -> None:
    spec = graph.spec(ref)
    if value.dtype.name != spec.dtype or not compatible(value.shape, spec.shape):
        where = f"{loc[0]}[{loc[1]}]" if len(loc) == 2 else str(loc[0])
        raise EngineError(
            f"{where} is {value.dtype.name}{fmt(value.shape)} but the tensor it "
            f"seeds ({format_ref(ref)}) is {spec.dtype}{fmt(spec.shape)}; they must match "
            "exactly", loc=loc)


@dataclass(frozen=True)
class _Mapping:
    """A request's vmap (no axes: none) and the size limit its program is checked with."""

    axes: dict[str, int]
    size: int | None
    max_elements: int | None

    def key(self) -> tuple[Any, ...]:
        return tuple(sorted(self.axes.items())), self.size, self.max_elements

    def plan(self, graph: Graph, fetches: Sequence[Ref]) -> Plan:
        return Plan(*batched(graph, fetches, self.axes, self.size, self.max_elements))


@pausing
def _make_program(graph: Graph, y_refs: tuple[Ref, ...], xs: Sequence[str],
                  grad_ys: Sequence[np.ndarray | str | None], options: dict[str, Any],
                  return_values: bool, mapping: _Mapping, bake: bool = False) -> _Program:
    """Differentiate and plan once. Given grad_ys become placeholders (or, when the graph
    is to be returned, constants baked in, so that posting it back needs no extra feed)."""
    name = options["name"]
    b = GraphBuilder(graph, prefix=name)
    seeds: list[str | None] = []
    seed_refs: list[Ref | None] = []
    for i, (ref, gy) in enumerate(zip(y_refs, grad_ys, strict=True)):
        if gy is None or isinstance(gy, str):
            seeds.append(None)
            seed_refs.append(None if gy is None else graph.resolve(gy, loc=("grad_ys", i)))
            continue
        spec, seed = graph.spec(ref), b.unused(f"{name}/grad_ys_{i}")
        t = (b.constant(gy, spec.dtype, name=seed) if bake
             else b.placeholder(seed, spec.shape, spec.dtype))
        seeds.append(None if bake else t.name)
        seed_refs.append(t.ref)
    seeded = b.finish()
    result = gradients(seeded, list(y_refs), list(xs), grad_ys=seed_refs, **options)
    grads = [g for g in result.grads if g is not None]
    # planned at once (not returned, not mapped): the plan drops the dead nodes itself
    simple, renamed = simplify(result.graph, grads, protected=seeded.by_name, forward=not bake,
                               prune=bake or bool(mapping.axes))
    grads_of = tuple(None if g is None else renamed[g] for g in result.grads)
    fetches = [g for g in grads_of if g is not None]
    if return_values:
        fetches += list(y_refs)
    return _Program(mapping.plan(simple, fetches), grads_of, tuple(seeds), y_refs, simple,
                    return_values, None not in grads_of)


def compute_grad_operation(
    graph: Graph,
    args: Sequence[np.ndarray],
    *,
    get_all: bool = False,
    get_by_list: bool = False,
    sens_param: bool = False,
    sens: Sequence[np.ndarray | str] | None = None,
    weights: Sequence[str] | None = None,
    feeds: Mapping[str, Any] | None = None,
    max_elements: int | None = None,
    in_axes: InAxes = None,
) -> tuple[Any, bool]:
    """GradOperation evaluated: MindSpore's nesting of arrays, and whether it was cached.
    A ``sens`` entry given as a string names a node of the network as that seed.
    ``in_axes`` maps it over examples (names: network inputs or fed variables); sens are
    shared and have one example's shapes."""
    if len(args) != len(graph.inputs):
        raise EngineError(f"the network takes {len(graph.inputs)} input(s) "
                          f"({', '.join(graph.inputs) or 'none'}); got {len(args)} args",
                          loc=("args",))
    if sens_param and sens is None:
        raise EngineError("sens_param is true: give one 'sens' per network output",
                          loc=("sens",))
    if not sens_param and sens is not None:
        raise EngineError("'sens' is given but sens_param is false", loc=("sens",))
    all_feeds: dict[str, Any] = dict(feeds or {})
    check_feeds(graph, all_feeds)
    all_feeds.update(zip(graph.inputs, args, strict=True))
    mapping = _Mapping(dict(in_axes or {}), batch_size(all_feeds, in_axes or {}), max_elements)
    try:
        graph = for_feeds(graph, example_feeds(graph, all_feeds, mapping.axes), max_elements)
    except FeedError as exc:
        raise _as_arg_error(graph, exc) from None
    if sens is not None:
        if len(sens) != len(graph.outputs):
            raise EngineError(f"the network has {len(graph.outputs)} output(s); got "
                              f"{len(sens)} sens", loc=("sens",))
        for i, (ref, s) in enumerate(zip(graph.outputs, sens, strict=True)):
            where = ("sens", i) if len(sens) > 1 else ("sens",)
            if isinstance(s, str):
                _check_seed_node(graph, ref, s, where)
            else:
                _check_seed(graph, ref, s, where)
    nodes = tuple(s if isinstance(s, str) else None for s in sens or ()) or None
    key = ("grad_operation", graph.key, get_all, get_by_list, sens_param,
           None if weights is None else tuple(weights), nodes, mapping.key())
    (go, plan), hit = _PROGRAMS.get_or_make(key, lambda: _plan_grad_operation(
        graph, get_all, get_by_list, sens_param, weights, nodes, mapping))
    all_feeds.update((n, s) for n, s in zip(go.sens_names, sens or (), strict=False) if n)
    try:
        flat = plan.run(all_feeds)
    except FeedError as exc:
        raise _as_arg_error(graph, exc) from None
    return go.nest(flat), hit


def _as_arg_error(graph: Graph, exc: FeedError) -> FeedError:
    """A network input's feed error points at its position in ``args``."""
    if exc.node in graph.inputs:
        return FeedError(exc.message, node=exc.node, loc=("args", graph.inputs.index(exc.node)))
    return exc


@pausing
def _plan_grad_operation(graph: Graph, get_all: bool, get_by_list: bool, sens_param: bool,
                         weights: Sequence[str] | None, sens_nodes: Sequence[str | None] | None,
                         mapping: _Mapping) -> tuple[GradOperation, Plan]:
    go = grad_operation(graph, get_all=get_all, get_by_list=get_by_list,
                        sens_param=sens_param, weights=weights, sens_nodes=sens_nodes)
    simple, renamed = simplify(go.graph, go.grads, protected=graph.by_name, forward=True)
    return go, mapping.plan(simple, [renamed[g] for g in go.grads])
