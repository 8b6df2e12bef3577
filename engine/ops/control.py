"""Control flow: ``cond`` and ``while_loop``, their subgraphs (API.md section 2 graphs) as attrs.

A branch or body is a whole engine ``Graph`` (``Graph.nested`` parses and judges it), whose
inputs must fit the node's operands in number, dtype and shape; a misfit names the attr.
The forward runs the subgraphs' own compiled plans (the kernel holds them, built once per
plan), so nothing is unrolled and a loop is a Python ``while`` over iterations: on its
first run one cond and one body plan run per iteration, from its second the two plans'
steps inlined in one generated function (``engine/loops.py``), which leaves whatever it
does not take to the plain loop.

Derivatives are graphs of the same ops (``engine/transforms/subgraphs.py`` builds the
subgraphs), so the same rules differentiate them again:

- cond (TensorFlow's cond_v2): a ``cond`` on the same predicate whose branches are the
  branches' own gradient graphs; operands a branch does not use get zeros.
- while_loop (TensorFlow's while_v2, JAX's scan transpose): the loop run again with
  ``stacked`` (it then also answers its iteration count and each loop variable per
  iteration, ``[maximum_iterations, ...]``, and with ``saved`` the body's last outputs
  per iteration: the residuals its VJP reads, as while_v2 accumulates intermediates;
  ``saved`` also works alone, where only those values are wanted per iteration),
  then a ``while_loop`` running backwards over those rows, one body VJP per iteration,
  carrying the loop variables' cotangents and summing the invariants'. A stacked loop's
  own VJP reads its rows and adds the rows' cotangents, which is what differentiating
  the backward loop again sends it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..dtypes import np_dtype
from ..errors import EngineError
from ..shapes import fmt, is_static
from . import attrs as parse
from .contexts import BatchContext, JVPContext, VJPContext
from .registry import Attr, AttrError, OpTypeError, TensorSpec, defop, kernel


def _graph(raw: Any) -> Any:
    from ..graph import Graph

    return Graph.nested(raw)


def _iterations(v: Any) -> int:
    n = parse.integer(v)
    if n < 0:
        raise ValueError(f"expected an int >= 0, got {n}")
    return n


def _count(v: Any) -> int:
    n = parse.integer(v)
    if n < 1:
        raise ValueError(f"expected at least one loop variable, got {n}")
    return n


def _merged(a: tuple[int | None, ...], b: tuple[int | None, ...]) -> tuple[int | None, ...] | None:
    """The more specific of two compatible shapes (None if they do not fit)."""
    if len(a) != len(b) or any(x is not None and y is not None and x != y
                               for x, y in zip(a, b, strict=True)):
        return None
    return tuple(x if x is not None else y for x, y in zip(a, b, strict=True))


def fitted(sub: Any, specs: Sequence[TensorSpec], attr: str) -> Any:
    """``sub`` with its inputs checked against ``specs`` (number, dtype, shape), and
    re-inferred at the operands' shapes where those say more than its placeholders."""
    if len(sub.inputs) != len(specs):
        raise AttrError(attr, f"attr {attr!r} takes {len(sub.inputs)} input(s) but the node "
                        f"gives it {len(specs)}")
    shapes: dict[str, tuple[int | None, ...]] = {}
    for i, (name, spec) in enumerate(zip(sub.inputs, specs, strict=True)):
        own = sub.by_name[name].spec
        merged = _merged(own.shape, spec.shape)
        if own.dtype != spec.dtype or merged is None:
            raise AttrError(attr, f"attr {attr!r}: input {i} ({name!r}) is {own} but the "
                            f"node gives it {spec}", ("inputs", i))
        if merged != own.shape:
            shapes[name] = merged
    if not shapes:
        return sub
    from ..specialize import specialize

    return specialize(sub, shapes)


def _outputs(sub: Any) -> list[TensorSpec]:
    return [sub.spec(r) for r in sub.outputs]


def _rule(name: str) -> Any:
    """A rule of ``engine/transforms/subgraphs.py``, imported when first called (the
    transforms import the ops)."""
    def rule(c: VJPContext | JVPContext | BatchContext) -> Any:
        from ..transforms import subgraphs

        return getattr(subgraphs, name)(c)

    return rule


# -- cond ------------------------------------------------------------------------------------

def _cond_infer(specs: tuple[TensorSpec, ...], attrs: Mapping[str, Any]) -> list[TensorSpec]:
    pred = specs[0]
    if pred.dtype != "bool" or pred.shape != ():
        raise OpTypeError(f"the predicate is {pred}; cond takes a bool scalar", input_index=0)
    then = _outputs(fitted(attrs["then_branch"], specs[1:], "then_branch"))
    other = _outputs(fitted(attrs["else_branch"], specs[1:], "else_branch"))
    if len(then) != len(other):
        raise AttrError("else_branch", f"attr 'else_branch' has {len(other)} output(s) but "
                        f"'then_branch' has {len(then)}", ("outputs",))
    out = []
    for k, (a, b) in enumerate(zip(then, other, strict=True)):
        if a.dtype != b.dtype or _merged(a.shape, b.shape) is None:
            raise AttrError("else_branch", f"attr 'else_branch': output {k} is {b} but "
                            f"'then_branch' gives {a}", ("outputs", k))
        out.append(TensorSpec(tuple(x if x == y else None
                                    for x, y in zip(a.shape, b.shape, strict=True)), a.dtype))
    return out


class _SubPlan:
    """A subgraph's compiled plan, run with its inputs given in order."""

    __slots__ = ("attr", "names", "plan")

    def __init__(self, sub: Any, specs: Sequence[TensorSpec], attr: str):
        from ..plan import Plan

        graph = fitted(sub, specs, attr)
        self.attr = attr
        self.names = graph.inputs
        self.plan = Plan(graph, graph.outputs)

    def __call__(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            return self.plan.run(dict(zip(self.names, arrays, strict=True)))
        except EngineError as exc:  # the outer plan names the control-flow node
            raise ValueError(f"{self.attr}: {exc}") from None


@kernel
def _cond_kernel(attrs: Mapping[str, Any], specs: tuple[TensorSpec, ...]) -> Any:
    then = _SubPlan(attrs["then_branch"], specs[1:], "then_branch")
    other = _SubPlan(attrs["else_branch"], specs[1:], "else_branch")

    def run(pred: np.ndarray, *operands: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple((then if bool(pred) else other)(operands))

    return run


defop("cond", inputs=(1, None), infer=_cond_infer,
      forward=_cond_kernel, multi_output=True,
      attrs={"then_branch": Attr(parse=_graph), "else_branch": Attr(parse=_graph)},
      vjp=_rule("cond_vjp"), jvp=_rule("cond_jvp"), batch=_rule("cond_batch"),
      work=lambda a: max(a["then_branch"].work, a["else_branch"].work),
      doc="Inputs [pred (bool scalar), *operands]; then_branch / else_branch: graphs of "
          "the operands with outputs alike in number, dtype and shape. Outputs name:k. "
          "The gradient flows through the branch taken (cond_v2).")


# -- while_loop ------------------------------------------------------------------------------

def _while_infer(specs: tuple[TensorSpec, ...], attrs: Mapping[str, Any]) -> list[TensorSpec]:
    n = attrs["loop_vars"]
    if n > len(specs):
        raise AttrError("loop_vars", f"attr 'loop_vars' is {n} but the node has "
                        f"{len(specs)} input(s)")
    cond = _outputs(fitted(attrs["cond"], specs, "cond"))
    if len(cond) != 1 or cond[0].dtype != "bool" or cond[0].shape != ():
        raise AttrError("cond", "attr 'cond' must answer one bool scalar, got "
                        f"[{', '.join(map(str, cond))}]", ("outputs",))
    body = _outputs(fitted(attrs["body"], specs, "body"))
    saved = attrs["saved"]
    if len(body) != n + saved:
        raise AttrError("body", f"attr 'body' has {len(body)} output(s) for {n} loop "
                        "variable(s)" + (f" and {saved} saved" if saved else ""),
                        ("outputs",))
    for k, got in enumerate(body[n:], n):
        if not is_static(got.shape):
            raise AttrError("body", f"attr 'body': saved output {k} is {got}; a saved "
                            "value needs a static shape", ("outputs", k))
    for k, (got, want) in enumerate(zip(body[:n], specs[:n], strict=True)):
        if got.dtype != want.dtype or _merged(got.shape, want.shape) is None:
            raise AttrError("body", f"attr 'body': output {k} is {got} but loop variable "
                            f"{k} is {want} (a loop keeps its variables' shapes and dtypes)",
                            ("outputs", k))
    m = attrs["maximum_iterations"]
    out = list(specs[:n])
    if attrs["stacked"]:
        out += [TensorSpec((), "int32"), *(TensorSpec((m, *s.shape), s.dtype)
                                           for s in specs[:n])]
    return out + [TensorSpec((m, *s.shape), s.dtype) for s in body[n:]]


def first_saved(attrs: Mapping[str, Any]) -> int:
    """Where a while_loop's saved values start among its outputs: after the loop
    variables, and with ``stacked`` after the count and the rows too. A loop saves values
    without stacking its variables where nothing reads those rows (a backward loop's
    gather cotangents): keeping them would cost O(iterations x carry) memory."""
    n = attrs["loop_vars"]
    return n + (1 + n if attrs["stacked"] else 0)


class _Loop:
    """A while_loop's forward, bound once per plan: the plain loop below on its first run,
    from its second on the cond and body inlined in one generated function
    (``engine/loops.py``, made again when their plans' steps change, as when they fuse),
    which leaves to the plain loop whatever it does not take and whatever fails."""

    __slots__ = ("body", "cond", "fn", "kept", "limit", "n", "runs", "seen", "stacked")

    def __init__(self, attrs: Mapping[str, Any], specs: tuple[TensorSpec, ...]):
        self.n, self.limit = attrs["loop_vars"], attrs["maximum_iterations"]
        self.stacked = attrs["stacked"]
        self.cond = _SubPlan(attrs["cond"], specs, "cond")
        self.body = _SubPlan(attrs["body"], specs, "body")
        graph = self.body.plan.graph
        self.kept = [graph.spec(r) for r in graph.outputs[self.n:]]  # the saved values
        self.fn: Any = None
        self.seen: tuple[Any, Any] | None = None
        self.runs = 0

    def __call__(self, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        fn = self._generated()
        if fn is not None:
            try:
                with np.errstate(all="ignore"):
                    count, out = fn(*arrays)
            except Exception:  # the plain loop gives the same values or the same failure
                pass           # (a hoisted step may fail where the plain loop never runs it)
            else:
                self.cond.plan.count(count + (count < self.limit))
                self.body.plan.count(count)
                return out
        return self._plain(arrays)

    def _generated(self) -> Any:
        """The generated loop (None on the first run, and for plans too long to generate)."""
        if self.runs < 2:
            self.runs += 1
            if self.runs < 2:
                return None
        cond, body = self.cond.plan, self.body.plan
        seen = (cond.steps, body.steps)
        if self.seen is None or seen[0] is not self.seen[0] or seen[1] is not self.seen[1]:
            from ..loops import generate

            self.fn = generate(cond, self.cond.names, body, self.body.names, self.n,
                               self.limit, self.stacked, self.kept)
            self.seen = seen
        return self.fn

    def _plain(self, arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
        """The loop as the plans' runs, one cond and one body per iteration."""
        n, limit, cond, body = self.n, self.limit, self.cond, self.body
        carry, invariants = list(arrays[:n]), list(arrays[n:])
        rows = [np.zeros((limit, *np.shape(a)), dtype=np.asarray(a).dtype)
                for a in carry] if self.stacked else []  # calloc: untouched rows cost nothing
        kept = [np.zeros((limit, *s.shape), dtype=np_dtype(s.dtype)) for s in self.kept]
        count = 0
        while count < limit and bool(cond([*carry, *invariants])[0]):
            for row, a in zip(rows, carry):  # no rows unless stacked
                row[count] = a
            new = body([*carry, *invariants])
            for row, a in zip(kept, new[n:]):  # none unless saved
                row[count] = a
            new = new[:n]
            for k, (a, b) in enumerate(zip(new, carry, strict=True)):
                if np.shape(a) != np.shape(b):
                    raise ValueError(f"body: loop variable {k} changed shape from "
                                     f"{fmt(np.shape(b))} to {fmt(np.shape(a))}")
            carry = new
            count += 1
        if not self.stacked:
            return (*carry, *kept)
        return (*carry, np.asarray(count, dtype=np.int32), *rows, *kept)


defop("while_loop", inputs=(1, None),
      infer=_while_infer, forward=kernel(_Loop), multi_output=True,
      attrs={"loop_vars": Attr(parse=_count), "cond": Attr(parse=_graph),
             "body": Attr(parse=_graph), "maximum_iterations": Attr(parse=_iterations),
             "stacked": Attr(False, parse.boolean), "saved": Attr(0, parse=_iterations)},
      vjp=_rule("while_vjp"), jvp=_rule("while_jvp"),
      batch=_rule("while_batch"),
      work=lambda a: a["maximum_iterations"] * (a["cond"].work + a["body"].work),
      doc="Inputs [*loop_vars, *invariants]; loop_vars: how many; cond: a graph of them "
          "all to a bool scalar; body: to new loop variables (same shapes and dtypes); "
          "maximum_iterations: required. Outputs name:k, the final loop variables (with "
          "stacked: then the iteration count and each loop variable per iteration; then "
          "with saved, a count of the body's last outputs that are no loop variables, "
          "each of those per iteration). Gradients through every iteration (while_v2).")
