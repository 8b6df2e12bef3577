"""Compiled plans: a graph and its fetches as a flat, pruned list of numpy calls.

Compiling walks the graph once: it keeps only what the fetches need, binds each op's
attrs into a plain callable, numbers every tensor with a slot, and notes after which step
each intermediate is read for the last time so that it is dropped there. Running is then
one generated Python function (``_generate``): each slot a local, each bound callable a
default argument, each intermediate deleted after its last read. Generating costs ~50 us a
step, so it happens on a plan's second run (a plan run once, the cold path, never pays
it), and very long plans (above ``GENERATE_LIMIT`` steps) keep the interpreted loop.
"""
from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import fusion
from .dtypes import np_dtype
from .errors import ComputeError, EngineError, FeedError
from .graph import LEAF_OPS, Graph, Ref, upstream
from .ops import registry
from .shapes import compatible, fmt

Step = tuple[Any, tuple[int, ...], int, tuple[int, ...]]
FeedSlot = tuple[str, int, Any, bool, np.dtype, tuple[int | None, ...]]
FOLD_LIMIT = 1 << 16  # constant subgraphs up to this many elements are computed once
GENERATE_LIMIT = 4096  # plans up to this many steps run as one generated function


class Plan:
    """Runs ``graph`` for ``fetches``. Build once, ``run`` many times with new feeds."""

    __slots__ = ("_columns", "_feeds", "_fetch_slots", "_fn", "_initial", "_looped", "_made",
                 "_runs", "_step_nodes", "fetches", "graph", "node_count")

    def __init__(self, graph: Graph, fetches: Sequence[Ref]):
        self.graph = graph
        self.fetches = tuple(fetches)
        # Every node gets its slot and step in one walk forward; the steps the fetches do
        # not need are found by the walk back over the steps that finds the frees (over
        # slot numbers, not a sweep of the nodes by name first), and dropped; a node with
        # attrs or a kernel is bound only then, if needed (a kernel may plan a subgraph).
        # A ref's slot: output 0 (the usual ref) under the node's name, a string (its hash
        # kept by the string: a tenth off the loop), output k > 0 under the ref
        slot_of: dict[str | Ref, int] = {}
        initial: list[Any] = []
        feeds: list[FeedSlot] = []
        # the steps as columns (callable, input slots, output slot), zipped once at the end
        fns: list[Any] = []
        step_ins: list[tuple[int, ...]] = []
        step_outs: list[int] = []
        step_nodes: list[str] = []
        unbound: list[int] = []  # steps bound once known to be needed (fns[i] None)
        ops: dict[str, tuple[registry.OpDef, Any]] = {}  # an op's def and unbound forward
        known: set[int] = set()  # slots whose value is fixed when the plan is compiled
        by_name = graph.by_name
        for node in graph.nodes:
            name = node.name
            op = node.op
            if op in LEAF_OPS:
                slot_of[name] = slot = len(initial)
                initial.append(node.value)
                if op == "constant":
                    known.add(slot)
                else:
                    spec = node.outputs[0]
                    feeds.append((name, slot, spec, op == "placeholder",
                                  np_dtype(spec.dtype), spec.shape))
                continue
            entry = ops.get(op)
            if entry is None:
                opdef = registry.get(op)
                entry = ops[op] = (opdef, opdef.unbound)
            opdef, fn = entry
            inputs = node.inputs
            n = len(inputs)  # one or two spelled out: a quarter of tuple(map(...))'s time
            if n == 1:
                r = inputs[0]
                a = slot_of[r] if r[1] else slot_of[r[0]]
                ins, fixed = (a,), a in known
            elif n == 2:
                r, q = inputs
                a = slot_of[r] if r[1] else slot_of[r[0]]
                b = slot_of[q] if q[1] else slot_of[q[0]]
                ins, fixed = (a, b), a in known and b in known
            else:
                ins = tuple([slot_of[r] if r[1] else slot_of[r[0]] for r in inputs])
                fixed = known.issuperset(ins)
            if node.attrs or fn is None:
                fn = None  # bound once known to be needed, unless folded now
                if fixed and not opdef.multi_output:
                    fn = _bound_or_none(opdef, node, by_name)
            if not opdef.multi_output:
                if fixed and fn is not None:
                    folded = _fold(fn, ins, initial, known, node)
                    if folded is not None:
                        slot_of[name] = slot = len(initial)
                        initial.append(folded)
                        known.add(slot)
                        continue
                slot_of[name] = out = len(initial)
                initial.append(None)
                if fn is None:
                    unbound.append(len(fns))
                fns.append(fn)
                step_ins.append(ins)
                step_outs.append(out)
                step_nodes.append(name)
            else:
                packed = len(initial)
                initial.append(None)
                if fn is None:
                    unbound.append(len(fns))
                fns.append(fn)
                step_ins.append(ins)
                step_outs.append(packed)
                step_nodes.append(name)
                for k in range(len(node.outputs)):
                    slot_of[(name, k) if k else name] = out = len(initial)
                    initial.append(None)
                    fns.append(operator.itemgetter(k))
                    step_ins.append((packed,))
                    step_outs.append(out)
                    step_nodes.append(name)
        self._fetch_slots = tuple(slot_of[f] if f[1] else slot_of[f[0]] for f in self.fetches)
        # the leaves' slots (never freed): the fed ones and those of known values
        live, frees, dead = _sweep(step_ins, step_outs, set(self._fetch_slots),
                                   {f[1] for f in feeds} | known, len(initial))
        for i in unbound:  # in the nodes' order: the first refusal is the one raised
            if live[step_outs[i]]:
                node = by_name[step_nodes[i]]
                fns[i] = _bind(ops[node.op][0], node, by_name)
        # the steps kept as columns, the dead ones masked (none: the sweep's list is
        # empty, no mask made to learn it); a tuple of them made only when asked (_steps)
        alive = None
        if dead:
            alive = bytearray(b"\x01") * len(fns)
            for i in dead:
                alive[i] = 0
        self._columns = (fns, step_ins, step_outs, frees, alive)
        self._made: tuple[Step, ...] | None = None
        self._looped = False  # run by the loop over the columns once (no tuple made)
        self._step_nodes = tuple(step_nodes if alive is None
                                 else itertools.compress(step_nodes, alive))
        self._initial = tuple(initial)
        self._feeds = tuple(f for f in feeds if live[f[1]])
        self.node_count = len(fns) - len(dead)
        self._fn: Any = None
        self._runs = 0 if self.node_count <= GENERATE_LIMIT else -1  # -1: never generated

    def run(self, feeds: Mapping[str, Any]) -> list[np.ndarray]:
        """Values of the fetches. Placeholders must be fed; variables may be."""
        fn = self._fn
        if fn is None:
            if self.count(1) <= 1:
                return self._interpret(self._fed(feeds))
            fn = self._fn = self._generated(self._steps)
        else:
            self.count(1)
        try:
            return fn(feeds)  # checks the feeds as _feed_value does; under errstate(all="ignore")
        except EngineError:
            raise
        except (ValueError, TypeError, IndexError, FloatingPointError):
            pass  # run the loop again below: it names the failing node
        return self._interpret(self._fed(feeds))

    def _fed(self, feeds: Mapping[str, Any]) -> list[Any]:
        """Each feed slot's value, checked, in the order of ``self._feeds`` (what the
        generated function does inline)."""
        initial = self._initial
        return [_feed_value(f, feeds.get(f[0]), initial) for f in self._feeds]

    def count(self, runs: int) -> int:
        """Note ``runs`` more runs (``run`` notes its own; a loop that inlines this plan's
        steps notes its iterations), fusing after ``fusion.FUSE_AFTER``; the runs so far
        (-1 once fusion is under way, or for a plan that never generates)."""
        done = self._runs
        if done >= 0:  # a racing thread may generate or fuse it too: harmless
            self._runs = done = done + runs
            if done >= fusion.FUSE_AFTER:  # compiled aside; this run and the next unfused
                self._runs = -1
                fusion.later(self._adopt_fused)
        return done

    @property
    def _steps(self) -> tuple[Step, ...]:
        """The steps as a tuple, made once asked (to generate, fuse or inline them, or for
        the loop's second run: iterating it is ~7% quicker than zipping the columns, ~20 ms
        to make for the 100k chain's gradient, which a plan run once, the cold path's,
        does not pay)."""
        made = self._made
        if made is None:
            made = self._made = tuple(self._each_step())
        return made

    def _each_step(self) -> Iterator[Step]:
        fns, ins, outs, frees, alive = self._columns
        steps = zip(fns, ins, outs, frees)
        return steps if alive is None else itertools.compress(steps, alive)

    @property
    def generates(self) -> bool:
        """Whether it runs as a generated function from its second run (not too long)."""
        return self.node_count <= GENERATE_LIMIT

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps it runs now (with fused kernels once fusion is adopted): what a loop
        inlines. A new tuple when they change."""
        fn = self._fn
        return fn.steps if fn is not None else self._steps

    @property
    def feed_slots(self) -> tuple[FeedSlot, ...]:
        return self._feeds

    @property
    def fetch_slots(self) -> tuple[int, ...]:
        return self._fetch_slots

    @property
    def initial(self) -> tuple[Any, ...]:
        """Each slot's value before a run: constants and variables' own values."""
        return self._initial

    def _generated(self, steps: Sequence[Step]) -> Any:
        return _generate(steps, self._fetch_slots, self._feeds, self._initial)

    def fuse(self) -> int:
        """Run as fused kernels from now on, if any fuse; how many. (``run`` does this
        itself after ``fusion.FUSE_AFTER`` runs, in the background: ``fusion.wait``.)"""
        fn = self._fused()
        if fn is None:
            return 0
        self._fn, self._runs = fn, -1
        return sum(isinstance(step[0], fusion.Kernel) for step in fn.steps)

    def _adopt_fused(self) -> None:
        fn = self._fused()
        if fn is not None:
            self._fn = fn  # one assignment: a run in flight finishes with the old function

    def _fused(self) -> Any:
        """The generated function with its fusible groups as kernels (None: nothing fuses,
        numba is missing, or compiling failed: the plan stays as it is)."""
        if not fusion.enabled():
            return None
        feeds = {f[1] for f in self._feeds}
        constants = {i: v for i, v in enumerate(self._initial)
                     if v is not None and i not in feeds}
        try:
            steps = fusion.fused_steps([(fn, ins, out) for fn, ins, out, _ in self._steps],
                                       self._slot_specs(), self._fetch_slots, constants)
            if steps is None:
                return None
            return self._generated(_with_frees(steps, set(self._fetch_slots),
                                               feeds | set(constants)))
        except Exception as exc:  # never worse than unfused: say why, run unfused
            fusion.log_failure(exc)
            return None

    def _slot_specs(self) -> dict[int, fusion.Spec]:
        """Static shape and dtype of each slot where known: feeds as declared, constants as
        they are, each single-output step's as inferred (made here, not when planning,
        so that the cold path does not pay for it)."""
        specs: dict[int, fusion.Spec] = {}
        for _, slot, _, _, dtype, shape in self._feeds:
            if None not in shape:
                specs[slot] = (shape, dtype)
        for slot, value in enumerate(self._initial):
            if value is not None and slot not in specs:
                value = np.asarray(value)
                specs[slot] = (value.shape, value.dtype)
        for (_, _, out, _), name in zip(self._steps, self._step_nodes, strict=True):
            node = self.graph.by_name[name]
            if not registry.get(node.op).multi_output and None not in node.spec.shape:
                specs[out] = (node.spec.shape, np_dtype(node.spec.dtype))
        return specs

    def _interpret(self, fed: Sequence[Any]) -> list[np.ndarray]:
        """The steps one by one on the feeds' values (long plans, a plan's first run, and
        naming the node that failed)."""
        slots = list(self._initial)
        for f, value in zip(self._feeds, fed, strict=True):
            slots[f[1]] = value
        out = -1  # the step running: found by its output slot if it fails (no count kept)
        steps: Iterable[Step] | None = self._made
        if steps is None:  # the first run goes over the columns, later ones over the tuple
            steps = self._steps if self._looped else self._each_step()
            self._looped = True
        try:
            with np.errstate(all="ignore"):
                for fn, ins, out, frees in steps:
                    n = len(ins)  # one or two spelled out: no list made per step
                    slots[out] = (fn(slots[ins[0]]) if n == 1 else
                                  fn(slots[ins[0]], slots[ins[1]]) if n == 2 else
                                  fn(*[slots[j] for j in ins]))
                    for f in frees:
                        slots[f] = None
        except EngineError:
            raise
        except (ValueError, TypeError, IndexError, FloatingPointError) as exc:
            failed = [i for i, step in enumerate(self._steps) if step[2] == out]
            node = self._step_nodes[failed[0]] if failed else None
            raise ComputeError(f"failed at run time: {exc}", node=node) from None
        return [np.asarray(slots[s]) for s in self._fetch_slots]


def _generate(steps: Sequence[Step], fetch_slots: tuple[int, ...], feeds: Sequence[FeedSlot],
              initial: Sequence[Any]) -> Any:
    """One function doing the steps: the feeds mapping in, fetches out. It takes each feed
    itself, checked inline (the common case, an ndarray exactly as declared, costs no call;
    anything else goes to ``_feed_value``, which raises what a run raises). Slots become
    locals: feeds are read first, constants (``initial``) and callables are default
    arguments (fast locals, no slot list copied per run); ``del`` drops an intermediate
    where the loop would have freed it. Slots are never reused, so no fetch or feed is
    aliased."""
    env: dict[str, Any] = {"ndarray": np.ndarray, "feed_value": _feed_value,
                           "initial": initial}
    feed_slots = [f[1] for f in feeds]
    head = []
    for k, (name, slot, _spec, _required, dtype, shape) in enumerate(feeds):
        s, env[f"feed{k}"], env[f"dtype{k}"], env[f"shape{k}"] = slot_name(slot), feeds[k], \
            dtype, shape
        head += [f"    {s} = feeds.get({name!r})",
                 f"    if type({s}) is not ndarray or {s}.dtype != dtype{k} "
                 f"or {s}.shape != shape{k}:",
                 f"        {s} = feed_value(feed{k}, {s}, initial)"]
    body, written, loads = emit(steps, slot_name, "", "    ", env)
    loads += [j for j in dict.fromkeys(fetch_slots) if j not in written and j not in loads]
    fed = set(feed_slots)
    bind_constants([j for j in loads if j not in fed], initial, slot_name, env)
    fetched = "".join(f"asarray(s{j}), " for j in fetch_slots)
    run = _quiet(define("run", ["feeds"], [*head, *body, f"    return [{fetched}]"], env))
    run.steps = steps  # what it runs (``Plan.fuse`` counts the kernels)
    return run


def _quiet(fn: Any) -> Any:
    """``fn`` under ``np.errstate(all="ignore")``. numpy 2's errstate as a decorator costs
    half a ``with`` block per call and keeps its state per call; numpy 1's (contextlib's
    decorator) keeps it on the instance, not safe across threads or nested runs, so there
    each call enters a ``with`` block of its own."""
    if "__call__" in vars(np.errstate):
        return np.errstate(all="ignore")(fn)

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args)

    return run


def slot_name(j: int) -> str:
    """A slot's local in a generated plan."""
    return f"s{j}"


def emit(steps: Sequence[Step], local: Callable[[int], str], tag: str, indent: str,
         env: dict[str, Any]) -> tuple[list[str], set[int], list[int]]:
    """Source lines doing ``steps``, slot j spelled ``local(j)``, step k's callable bound
    in ``env`` as ``{tag}f{k}``; the slots they write, and those they read first (in
    first-read order: feeds and constants, for the caller to bind)."""
    written: set[int] = set()
    loads: list[int] = []
    lines: list[str] = []
    for k, (fn, ins, out, frees) in enumerate(steps):
        loads += [j for j in dict.fromkeys(ins) if j not in written and j not in loads]
        name = f"{tag}f{k}"
        if isinstance(fn, fusion.Kernel):  # outs: a tuple of slots
            env[name], env[f"{name}_dtype"] = fn.fn, fn.dtype
            lines += fn.emit(name, local, indent)
            written.update(fn.outputs)
        else:
            env[name] = fn
            lines.append(f"{indent}{local(out)} = {name}({', '.join(map(local, ins))})")
            written.add(out)
        if frees:
            lines.append(f"{indent}del {', '.join(map(local, frees))}")
    return lines, written, loads


def bind_constants(slots: Sequence[int], initial: Sequence[Any], local: Callable[[int], str],
                   env: dict[str, Any]) -> None:
    """Constant slots read by generated lines, bound in ``env`` under their locals."""
    for j in slots:
        assert initial[j] is not None, f"slot {j} is read before it is written"
        env[local(j)] = initial[j]


def define(name: str, args: Sequence[str], lines: Sequence[str], env: dict[str, Any]) -> Any:
    """The function ``name(*args)`` of the body ``lines``, every name of ``env`` (and the
    helpers generated lines call) a default argument: a fast local."""
    env = {"asarray": np.asarray, "empty": np.empty, "flat": fusion.flat, **env}
    params = [*args, *(f"{p}={p}" for p in env)]
    src = "\n".join([f"def {name}({', '.join(params)}):", *lines])
    namespace = dict(env)
    exec(compile(src, f"<{name}>", "exec"), namespace)  # the source is built from slot
    return namespace[name]                                # numbers and names only


def _fold(fn: Any, ins: tuple[int, ...], initial: list[Any], known: set[int],
          node: Any) -> np.ndarray | None:
    """Compute a node now if its inputs are all constant and its output is small."""
    if not known.issuperset(ins) or node.op in _NOT_FOLDED:
        return None
    size = 1
    for d in node.spec.shape:
        size *= d if d is not None else FOLD_LIMIT + 1
    if size > FOLD_LIMIT:
        return None
    try:
        with np.errstate(all="ignore"):
            value = np.asarray(fn(*[initial[i] for i in ins]), order="C")
    except Exception:  # leave it to run time, where the error is reported with its node
        return None
    value.setflags(write=False)
    return value


_NOT_FOLDED = frozenset({"placeholder", "variable"})


def _bind(opdef: registry.OpDef, node: Any, by_name: Mapping[str, Any]) -> Any:
    """The node's kernel, bound to its attrs and input specs."""
    return opdef.bind(node.attrs, tuple([by_name[r[0]].outputs[r[1]] for r in node.inputs]))


def _bound_or_none(opdef: registry.OpDef, node: Any, by_name: Mapping[str, Any]) -> Any:
    """A node of fixed inputs bound now, to be folded; None if binding it fails (bound
    again, and the failure raised, only if it is needed)."""
    try:
        return _bind(opdef, node, by_name)
    except Exception:
        return None


def _needed(graph: Graph, fetches: Sequence[Ref]) -> set[str]:
    return upstream(graph.nodes, [f[0] for f in fetches])


def _with_frees(steps: Sequence[Step], keep: set[int], leaves: set[int]) -> tuple[Step, ...]:
    """Attach to each step the slots it reads for the last time (never fetches or leaves)."""
    frees = _frees([ins for _, ins, _, _ in steps], keep, leaves)
    return tuple((fn, ins, out, f) for (fn, ins, out, _), f in zip(steps, frees, strict=True))


def _frees(step_ins: Sequence[tuple[int, ...]], keep: set[int], leaves: set[int],
           size: int | None = None) -> list[tuple[int, ...]]:
    """For each step (given by its input slots), the slots it reads for the last time,
    in the order it reads them (never fetches or leaves)."""
    return _sweep(step_ins, None, keep, leaves, size)[1]


def _sweep(step_ins: Sequence[tuple[int, ...]], step_outs: Sequence[int] | None,
           keep: set[int], leaves: set[int], size: int | None = None
           ) -> tuple[bytearray, list[tuple[int, ...]], list[int]]:
    """The slots read (``keep`` too: the fetches), and each step's frees: the slots it
    reads for the last time, in the order it reads them (never ``keep``'s or leaves').
    One sweep back over the steps, a slot's first sighting there being its last read (no
    table of last uses to walk again). With ``step_outs`` (each step's output slot), a
    step whose output is not read after it (nor kept) is dead: it reads and frees
    nothing, so what only it read is dead too (the caller drops the steps whose output
    is not marked read), and the dead steps are listed (last first). The marks are bytes
    in a bytearray (``size``: the slots' count, if known), not a set: no hashing, a byte
    a slot."""
    if size is None:
        size = 1 + max([*keep, *leaves, *(max(ins) for ins in step_ins if ins)], default=-1)
    seen = bytearray(size)  # read later (or never freed)
    read = bytearray(size)  # read later, or kept
    for s in keep:
        seen[s] = read[s] = 1
    for s in leaves:
        seen[s] = 1
    out: list[tuple[int, ...]] = [()] * len(step_ins)
    dead: list[int] = []
    for i in range(len(step_ins) - 1, -1, -1):
        if step_outs is not None and not read[step_outs[i]]:
            dead.append(i)
            continue
        last: list[int] | None = None
        for s in step_ins[i]:
            read[s] = 1
            if not seen[s]:
                seen[s] = 1
                if last is None:
                    last = [s]
                else:
                    last.append(s)
        if last is not None:
            out[i] = tuple(last)
    return read, out, dead


def _feed_value(feed: FeedSlot, value: Any, initial: Sequence[Any]) -> Any:
    """A feed's value as a run takes it (``value`` None: not fed): an ndarray exactly as
    declared as it is, else converted or refused; a variable not fed, its own value."""
    name, slot, spec, required, dtype, shape = feed
    if value is None:
        if required:
            raise FeedError(f"placeholder {name!r} needs a value", node=name,
                            loc=("feeds", name))
        return initial[slot]
    if type(value) is np.ndarray and value.dtype == dtype and value.shape == shape:
        return value
    return _checked_feed(name, value, spec)


def _checked_feed(name: str, value: Any, spec: Any) -> np.ndarray:
    want = np_dtype(spec.dtype)
    arr = value if isinstance(value, np.ndarray) else np.asarray(value, dtype=want)
    if arr.dtype != want:
        if arr.dtype.kind == want.kind or (arr.dtype.kind in "iub" and want.kind == "f"):
            arr = arr.astype(want)
        else:
            raise FeedError(f"fed {arr.dtype.name} for a {spec.dtype} node", node=name,
                            loc=("feeds", name))
    if not compatible(arr.shape, spec.shape):
        raise FeedError(f"fed shape {fmt(arr.shape)} does not fit the declared "
                        f"{fmt(spec.shape)}", node=name, loc=("feeds", name))
    return arr
