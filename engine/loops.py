"""A while_loop as one generated Python function: its cond's and body's plan steps inlined
in a Python ``while``, the loop variables locals carried from one iteration to the next.

Run the plain way (``engine/ops/control.py``), an iteration is two plan runs, each with
its feed dict, its feeds checked against their declarations, its fetch list and its
error state; for a loop over small tensors that costs more than the ops. The generated
function checks once, on entry, what those runs check each time (each input an array of
its declared dtype and shape), and after each body that the loop variables keep their
dtype and shape, so every later iteration's feeds are as declared too. Whatever does not
fit raises ``Misfit``, and the caller then runs the plain loop, which gives the same
values or names the failure as it always did: the generated loop is only ever faster.
Steps that read only invariants and constants (a backward loop's ``count - 1``, a weight's
transpose) run once, before the ``while`` (``hoisted``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import fusion
from .dtypes import np_dtype
from .ops.registry import TensorSpec
from .plan import Plan, Step, bind_constants, define, emit
from .shapes import compatible

INDENT = " " * 8  # inside ``while``


class Misfit(ValueError):
    """What the generated loop leaves to the plain one: an input not as its plans declare
    it, or a loop variable whose dtype or shape the body changed."""


def hoisted(steps: Sequence[Step], steady: set[int]) -> tuple[list[Step], list[Step]]:
    """``steps`` split into those that read only ``steady`` slots (invariants, constants)
    or what such steps write, which give the same every iteration and so run once before
    the loop, and the rest, from whose frees the former's slots are taken (they are read
    again next iteration). A fused kernel stays in the loop. All ops are pure, and a
    hoisted step that fails sends the call the plain way, like any failure."""
    steady = set(steady)
    before: list[Step] = []
    inside: list[Step] = []
    for step in steps:
        fn, ins, out, _ = step
        if not isinstance(fn, fusion.Kernel) and steady.issuperset(ins):
            steady.add(out)
            before.append(step)
        else:
            inside.append(step)
    once = {step[2] for step in before}
    return before, [(fn, ins, out, tuple(j for j in frees if j not in once))
                    for fn, ins, out, frees in inside]


class _Inlined:
    """One plan's steps as lines of the loop (slot j a local ``{tag}s{j}``, a fed slot
    the loop variable or invariant ``v{i}`` it is fed): ``before``, those hoisted out of
    it, and ``lines``, the others; its fetches' spellings."""

    def __init__(self, plan: Plan, tag: str, inputs: Sequence[str], n: int,
                 env: dict[str, Any]):
        position = {name: i for i, name in enumerate(inputs)}
        fed: dict[int, int] = {}  # slot: input position
        self.declared: list[tuple[int, np.dtype, tuple[int | None, ...]]] = []
        for name, slot, _spec, required, dtype, shape in plan.feed_slots:
            if name in position:
                fed[slot] = position[name]
                self.declared.append((position[name], dtype, shape))
            elif required:  # its runs refuse it each time: the plain loop says so
                raise Misfit(f"placeholder {name!r} is not an input")

        def local(j: int) -> str:
            return f"v{fed[j]}" if j in fed else f"{tag}s{j}"

        steady = {j for j, i in fed.items() if i >= n}  # the invariants, and constants
        steady |= {j for j, v in enumerate(plan.initial) if v is not None and j not in fed}
        before, inside = hoisted(plan.steps, steady)
        self.before, once, loads = emit(before, local, f"{tag}h", "    ", env)
        self.lines, written, more = emit(inside, local, tag, INDENT, env)
        written |= once
        loads += [j for j in [*more, *plan.fetch_slots] if j not in written and j not in loads]
        bind_constants([j for j in loads if j not in fed], plan.initial, local, env)
        self.fetches = [local(j) for j in plan.fetch_slots]


def _entry_checks(declared: Sequence[tuple[int, np.dtype, tuple[int | None, ...]]],
                  env: dict[str, Any]) -> list[str]:
    """Lines raising Misfit unless each input is an array as its plans declare it (a
    plan's run would convert or refuse it). A numpy scalar (what a ufunc of 0-d arrays
    gives) becomes the 0-d array a plan's run would make of it."""
    lines = []
    for i in dict.fromkeys(i for i, _, _ in declared):
        lines += [f"    if type(v{i}) is not ndarray:", f"        v{i} = asarray(v{i})"]
    for k, (i, dtype, shape) in enumerate(dict.fromkeys(declared)):
        env[f"d{k}"], env[f"h{k}"] = dtype, shape
        fits = (f"v{i}.shape != h{k}" if None not in shape
                else f"not compatible(v{i}.shape, h{k})")
        lines += [f"    if v{i}.dtype != d{k} or {fits}:", "        raise Misfit"]
    return lines


def generate(cond: Plan, cond_inputs: Sequence[str], body: Plan, body_inputs: Sequence[str],
             n: int, limit: int, stacked: bool, saved: Sequence[TensorSpec] = ()
             ) -> Callable[..., tuple[int, tuple[np.ndarray, ...]]] | None:
    """The loop as one function of the node's inputs (n loop variables, then the
    invariants; the subgraphs' inputs name them, each its own way): the arrays in, (the
    iteration count, the while_loop's outputs) out. ``saved``: the specs of the body's
    fetches after the loop variables' (a stacked loop's saved values), stacked per
    iteration. None for plans too long to generate, or that need a feed the loop does
    not give: they keep the plain loop."""
    if not (cond.generates and body.generates):
        return None
    env: dict[str, Any] = {"zeros": np.zeros, "int32": np.int32, "ndarray": np.ndarray,
                           "Misfit": Misfit, "compatible": compatible}
    try:
        test = _Inlined(cond, "c", cond_inputs, n, env)
        step = _Inlined(body, "b", body_inputs, n, env)
    except Misfit:
        return None
    carry = [f"v{k}" for k in range(n)]
    lines = _entry_checks([*test.declared, *step.declared], env)
    lines += [f"    e{k}, t{k} = v{k}.shape, v{k}.dtype" for k in range(n)]
    rows = [f"r{k}" for k in range(n)] if stacked else []
    lines += [f"    r{k} = zeros(({limit}, *e{k}), t{k})" for k in range(len(rows))]
    for k, spec in enumerate(saved):
        env[f"kd{k}"] = np_dtype(spec.dtype)
        lines.append(f"    k{k} = zeros({(limit, *spec.shape)}, kd{k})")
    lines += [*test.before, *step.before]
    kept = " or ".join(f"v{k}.shape != e{k} or v{k}.dtype != t{k}" for k in range(n))
    lines += [
        "    count = 0",
        f"    while count < {limit}:",
        *test.lines,
        f"        if not {test.fetches[0]}:",
        "            break",
        *(f"        r{k}[count] = v{k}" for k in range(len(rows))),
        *step.lines,
        *(f"        k{k}[count] = {f}" for k, f in enumerate(step.fetches[n:])),
        f"        {', '.join(carry)}, = "
        f"{', '.join(f'asarray({f})' for f in step.fetches[:n])},",
        f"        if {kept}:",
        "            raise Misfit",
        "        count += 1"]
    outputs = [*carry, *(["asarray(count, int32)", *rows] if stacked else []),
               *(f"k{k}" for k in range(len(saved)))]
    lines.append(f"    return count, ({', '.join(outputs)},)")
    return define("loop", [f"v{i}" for i in range(len(body_inputs))], lines, env)
