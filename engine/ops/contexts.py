"""What derivative rules are written against: one context per kind of rule.

A rule reads its node's inputs, outputs and attrs through handles (``builder.Tensor``) and
emits graph nodes with them, so that what it builds can be differentiated again. Inputs
are ``c.a``, ``c.b`` (``c.inputs[k]`` beyond): names that cannot be read as the graph's
``ys``. ``registry.py`` says which transform calls which rule, and how.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


class _NodeContext:
    """The node a rule is about: its input and output handles, attrs and dialect."""

    __slots__ = ("attrs", "dialect", "inputs", "node", "outputs")

    def __init__(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any],
                 dialect: str = "tensorflow", attrs: Mapping[str, Any] | None = None):
        self.node = node
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.attrs = node.attrs if attrs is None else attrs
        self.dialect = dialect

    @property
    def a(self) -> Any:
        """The first input."""
        return self.inputs[0]

    @property
    def b(self) -> Any:
        """The second input."""
        return self.inputs[1]

    @property
    def out(self) -> Any:
        """The first output."""
        return self.outputs[0]

    @property
    def tf(self) -> bool:
        """TensorFlow's dialect (else MindSpore's): the few rules that differ switch on it."""
        return self.dialect == "tensorflow"

    def apply(self, *inputs: Any, **attrs: Any) -> Any:
        """This node's op on other inputs, with its attrs (``attrs`` overriding them)."""
        return inputs[0].builder.emit(self.node.op, list(inputs), {**self.attrs, **attrs})


class VJPContext(_NodeContext):
    """Reverse mode: ``gs`` holds one cotangent per output (``g`` the first); ``given[k]``
    says whether output k really received one (else ``gs[k]`` is zeros), so a multi-output
    rule can skip the terms of an output nobody differentiates. ``wanted[k]`` says whether
    anybody reads input k's cotangent (a constant's never is): ``each`` makes only those."""

    __slots__ = ("given", "gs", "wanted")

    def __init__(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any],
                 gs: Sequence[Any], dialect: str, given: Sequence[bool] | None = None,
                 wanted: Sequence[bool] | None = None):
        # _NodeContext's fields set here, not through super(): one call less per node
        # autodiff visits (a 100,000-node chain makes as many contexts)
        self.node = node
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.attrs = node.attrs
        self.dialect = dialect
        self.gs = tuple(gs)
        self.given = tuple(given) if given is not None else (True,) * len(self.gs)
        self.wanted = tuple(wanted) if wanted is not None else (True,) * len(self.inputs)

    def each(self, *terms: Callable[[], Any]) -> list[Any | None]:
        """One cotangent per input, ``terms[k]()`` made only if input k's is wanted (None
        otherwise): a multilinear op's, each with the others fixed, need not all be built.
        Two (a product's) spelled out: no comprehension per node."""
        if len(terms) == 2:
            a, b = terms
            wa, wb = self.wanted  # (as strict a check of the count as zip's)
            return [a() if wa else None, b() if wb else None]
        return [t() if w else None for t, w in zip(terms, self.wanted, strict=True)]

    @property
    def g(self) -> Any:
        """The cotangent of the first output."""
        return self.gs[0]


class LazyVJPContext(VJPContext):
    """A ``VJPContext`` whose input and output handles are made when a rule first reads
    them (``handle(ref, spec)``): most rules read one input or none (add's passes ``g``
    on), and a 100,000-node chain would make three handles a node for nothing."""

    __slots__ = ("_handle", "_ins", "_outs", "_specs")

    def __init__(self, node: Any, handle: Callable[[Any, Any], Any], specs: Sequence[Any],
                 gs: tuple[Any, ...], dialect: str, given: tuple[bool, ...],
                 wanted: tuple[bool, ...]):
        self.node = node
        self.attrs = node.attrs
        self.dialect = dialect
        self.gs = gs
        self.given = given
        self.wanted = wanted
        self._handle = handle
        self._specs = specs
        self._ins: tuple[Any, ...] | None = None
        self._outs: tuple[Any, ...] | None = None

    @property
    def a(self) -> Any:
        """The first input, its handle alone made if the others are not (a product's rule
        reads the one input it multiplies by)."""
        return self._one(0)

    @property
    def b(self) -> Any:
        """The second input (its handle alone made, as ``a``'s)."""
        return self._one(1)

    def _one(self, k: int) -> Any:
        ins = self._ins
        return self._handle(self.node.inputs[k], self._specs[k]) if ins is None else ins[k]

    @property  # type: ignore[override]
    def inputs(self) -> tuple[Any, ...]:
        ins = self._ins
        if ins is None:
            ins = self._ins = tuple(map(self._handle, self.node.inputs, self._specs))
        return ins

    @property  # type: ignore[override]
    def outputs(self) -> tuple[Any, ...]:
        outs = self._outs
        if outs is None:
            name = self.node.name
            outs = self._outs = tuple(self._handle((name, k), spec)
                                      for k, spec in enumerate(self.node.outputs))
        return outs


class JVPContext(_NodeContext):
    """Forward mode: ``tangents`` holds one tangent per input, None where it is zero (an
    integer input, or one that does not depend on the differentiated inputs)."""

    __slots__ = ("tangents",)

    def __init__(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any],
                 tangents: Sequence[Any | None], dialect: str):
        super().__init__(node, inputs, outputs, dialect)
        self.tangents = tuple(tangents)
        if len(self.tangents) != len(self.inputs):
            raise ValueError("one tangent (or None) per input")

    @property
    def da(self) -> Any | None:
        """The tangent of the first input (None: zero)."""
        return self.tangents[0]

    @property
    def db(self) -> Any | None:
        """The tangent of the second input (None: zero)."""
        return self.tangents[1]


class BatchContext(_NodeContext):
    """Batching: ``inputs`` are the batched handles; ``axes[k]`` is input k's batch axis
    (None: input k is the same for every example), ``size`` the batch size. ``outputs``
    are the unbatched node's outputs (their specs say what one example gives)."""

    __slots__ = ("axes", "size")

    def __init__(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any],
                 axes: Sequence[int | None], size: int | None, dialect: str = "tensorflow"):
        super().__init__(node, inputs, outputs, dialect)
        self.axes = tuple(axes)
        self.size = size
        if len(self.axes) != len(self.inputs):
            raise ValueError("one batch axis (or None) per input")

    def moved(self, k: int, to: int = 0) -> Any:
        """Input k with its batch axis at ``to`` (an unbatched input is returned as is)."""
        t, axis = self.inputs[k], self.axes[k]
        return t if axis is None else move_axis(t, axis, to)


def move_axis(t: Any, axis: int, to: int) -> Any:
    """``t`` with its axis ``axis`` moved to ``to`` (one transpose, none if in place)."""
    if axis == to % t.ndim:
        return t
    perm = [d for d in range(t.ndim) if d != axis]
    perm.insert(to % t.ndim, axis)
    return t.builder.emit("transpose", [t], {"perm": perm})


def linear_jvp(opdef: Any, c: JVPContext) -> list[Any | None]:
    """The JVP of a linear op is the op itself: applied to the tangents of its linear
    inputs (zeros for missing ones, the fixed operands as they are); for a multilinear op,
    the sum over each linear input with a tangent of the op with that input replaced."""
    linear = opdef.linear_inputs(len(c.inputs))
    live = [k for k in linear if c.tangents[k] is not None]
    if not live:
        return [None] * len(c.outputs)
    if opdef.multilinear:
        terms = [c.apply(*[c.tangents[k] if i == k else t for i, t in enumerate(c.inputs)])
                 for k in live]
    else:
        zeros = {k: t.builder.emit("zeros_like", [t]) for k, t in enumerate(c.inputs)
                 if k in linear and c.tangents[k] is None}
        args = [c.tangents[i] if i in live else zeros.get(i, t)
                for i, t in enumerate(c.inputs)]
        terms = [c.apply(*args)]
    if not opdef.multi_output:
        return [_sum(terms)]
    return [_sum([term[k] for term in terms]) for k in range(len(c.outputs))]


def _sum(terms: Sequence[Any]) -> Any:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
