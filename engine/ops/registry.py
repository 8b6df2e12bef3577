"""The op registry: every op is one ``OpDef``, declared once with ``defop``.

An ``OpDef`` holds what the rest of the house needs to know of an op: its names, how many
inputs it takes, its attrs with their defaults and accepted forms, the static shape and
dtype rule, the numpy forward, and its derivative rules (written with graph ops, so that
they can be differentiated again). Nothing outside ``engine/ops`` knows any op by name
except the leaves and the handful of helpers autodiff itself emits (``add_n``, ...).

The derivative rules and how they are called
--------------------------------------------
Each rule receives one context (``engine/ops/contexts.py``) and emits graph nodes through
the handles it holds (``fn.exp(c.a)``, ``c.g * c.out``, ``c.apply(...)``). Rule variables
are conventionally named ``c``; inputs are ``c.a``, ``c.b`` (``c.inputs[k]`` beyond),
never ``x``/``y``, which would read as the graph's xs and ys.

``vjp(c: VJPContext) -> list[Tensor | None]``  (reverse mode)
    One cotangent per *input* (None: no gradient flows there), given ``c.gs``, one
    cotangent per *output* (zeros where none arrived; ``c.given`` says which did). Called
    by ``autodiff.gradients`` once per node on the path from xs to ys. ``c.wanted`` says
    which inputs' cotangents are read; a rule may give None for the others.

``transpose(c: VJPContext) -> list[Tensor | None]``  (linear ops only)
    Declared instead of ``vjp`` by an op that is linear in the inputs ``linear`` lists
    (``ALL``: every input), jointly, or each with the others fixed when ``multilinear``
    (mul, matmul, conv2d); its other inputs are fixed operands (indices, a "like" tensor
    that lends its run-time shape) and get None.
    It is the adjoint L*: it maps the output cotangent ``c.g`` to the linear inputs'
    cotangents and may read their static specs and run-time shapes (``c.a.shape``, ``c.a``
    as a "like" operand) but never their values, nor ``c.out``; a multilinear op reads the
    other linear inputs' values (conv2d's transpose in x uses w). Because a VJP is the
    transpose of the linearized op, the transpose *is* the VJP: ``OpDef.vjp`` is set to it
    and autodiff calls it as any VJP (so, as any VJP, a cotangent may come back at the
    broadcast shape; autodiff sums it to the input's). The every-op sweep checks
    ``<L x, y> = <x, L* y>`` for every example of every linear op.

``jvp(c: JVPContext) -> list[Tensor | None]``  (forward mode; round 2)
    One tangent per *output* (None: zero), given ``c.tangents``, one per input (None:
    zero: an integer input, or one that does not depend on the inputs differentiated).
    The transform calls a rule only when some input has a tangent, so a one-input rule
    may take ``c.da`` as given; a rule of several inputs handles the Nones. Tangents have
    their input's shape and dtype; a rule's output tangent has its output's. A linear op
    needs no ``jvp=``: ``OpDef.jvp_rule`` derives it (``contexts.linear_jvp``): the op
    itself applied to the tangents of its linear inputs (zeros for missing ones, fixed
    operands as they are, their tangents ignored), or for a multilinear op the sum over
    each linear input with a tangent of the op with that input replaced by its tangent.

``batch(c: BatchContext) -> tuple[list[Tensor], list[int | None]]``  (vmap; round 2)
    The op applied once to inputs that carry a batch axis: ``c.inputs`` are the batched
    handles, ``c.axes[k]`` input k's batch axis (None: input k is the same for every
    example), ``c.size`` the batch size, ``c.outputs`` the unbatched node's outputs (one
    example's specs). Returns the batched outputs and each one's batch axis (an int, or
    None for an output that does not vary over the batch). As JAX's batching rules: move
    the batch axes where the op can take them (``c.moved(k, to)``), then call the op
    once (``c.apply(*inputs, **attr_overrides)``); never a loop over examples. Every op
    declares one, or says in ``unbatchable=`` why it has none (an op of no inputs is
    never downstream of a mapped leaf; vmap maps the leaves itself).

Examples (each declared once, in one place, as in the families)::

    defop("exp", infer=unary(), forward=np.exp,
          vjp=lambda c: [c.g * c.out],              # reverse: g * exp(a)
          jvp=lambda c: [c.da * c.out],             # forward: da * exp(a)
          batch=elementwise_batch)                  # rules.py: apply as is, axis stays
    defop("gather", inputs=2, infer=..., forward=_gather_kernel, attrs=...,
          linear=(0,),                              # linear in params; indices fixed
          transpose=lambda c: [fn.gather_grad(c.g, c.b, c.a, axis=c.attrs["axis"]), None])
          # vjp = that transpose; jvp_rule = gather(da, indices)
    defop("mul", inputs=2, infer=broadcasting(), forward=np.multiply,
          linear=ALL, multilinear=True,             # linear in each, the other fixed
          transpose=lambda c: c.each(lambda: c.g * c.b, lambda: c.g * c.a))
          # each: only the cotangents autodiff wants (c.wanted) are built
          # jvp_rule = da * b + a * db (the terms whose tangent is not None)

A transform looks a rule up with ``opdef.vjp`` (the transpose for linear ops),
``opdef.jvp_rule`` (declared or derived from linearity) and ``opdef.batch``; a missing rule
is an op that transform does not support (say so by the op's name).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..dtypes import ANY, BOOL, FLOATING, INTEGER, NUMERIC
from ..errors import EngineError
from ..shapes import Shape, fmt
from .contexts import linear_jvp

REQUIRED = object()
ALL = "all"  # ``linear=ALL``: linear in every input (a variadic op such as concat)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Static knowledge of one tensor: shape (``None`` = unknown dimension) and dtype."""

    shape: Shape
    dtype: str

    def __str__(self) -> str:
        return f"{self.dtype}{fmt(self.shape)}"

    def __repr__(self) -> str:  # the dataclass's own text, without its ~2 us wrapper
        return f"TensorSpec(shape={self.shape!r}, dtype={self.dtype!r})"


@dataclass(frozen=True, slots=True)
class Attr:
    """One attr: its default (``REQUIRED`` if none) and a parser that normalizes or refuses."""

    default: Any = REQUIRED
    parse: Callable[[Any], Any] | None = None
    aliases: tuple[str, ...] = ()


InferFn = Callable[[tuple[TensorSpec, ...], Mapping[str, Any]], "TensorSpec | Sequence[TensorSpec]"]
Rule = Callable[[Any], Any]  # a context in, lists of handles out (see the module docstring)


@dataclass(frozen=True, slots=True)
class Kernel:
    """A forward built once per plan from the attrs and the inputs' static specs (axes
    normalized, an einsum path chosen), returning a callable of the input arrays alone."""

    build: Callable[[Mapping[str, Any], tuple[TensorSpec, ...]], Callable[..., Any]]


def kernel(build: Callable[[Mapping[str, Any], tuple[TensorSpec, ...]],
                           Callable[..., Any]]) -> Kernel:
    """Mark ``build(attrs, specs) -> run(*arrays)`` as an op's forward (use as decorator)."""
    return Kernel(build)


@dataclass(frozen=True)
class OpDef:
    """Everything about one op. See the module docstring for the rules' contracts.

    ``forward`` is ``f(*arrays, **attrs)`` or a ``Kernel``; None only for leaves.
    """

    name: str
    infer: InferFn
    forward: Callable[..., Any] | Kernel | None
    vjp: Rule | None = None
    transpose: Rule | None = None
    linear: tuple[int, ...] | str = ()  # the linear inputs' positions, or ALL of them
    multilinear: bool = False
    jvp: Rule | None = None
    batch: Rule | None = None
    unbatchable: str = ""  # why an op has no batch rule (vmap says so); "" if it has one
    aliases: tuple[str, ...] = ()
    inputs: int | tuple[int, int | None] = 1
    attrs: Mapping[str, Attr] = field(default_factory=dict)
    leaf: bool = False
    multi_output: bool = False  # infer returns a list of specs; outputs are "name:k"
    moves: bool = False  # it only moves or casts values (no arithmetic): as cheap to redo
    work: Callable[[Mapping[str, Any]], int] | None = None  # worst-case nodes run (loops)
    doc: str = ""

    def __post_init__(self) -> None:
        if self.transpose is not None:
            if self.vjp is not None:
                raise TypeError(f"{self.name}: a linear op declares transpose, not vjp")
            if not self.linear:
                raise TypeError(f"{self.name}: transpose needs the linear inputs listed")
            object.__setattr__(self, "vjp", self.transpose)  # L's VJP is L*
        elif self.linear or self.multilinear:
            raise TypeError(f"{self.name}: a linear op declares its transpose")
        if (self.batch is None) == (not self.unbatchable):
            raise TypeError(f"{self.name}: declare a batch rule, or say why there is none "
                            "(unbatchable=...), not both")

    @property
    def jvp_rule(self) -> Rule | None:
        """The declared JVP, or for a linear op the op itself applied to the tangents."""
        if self.jvp is not None:
            return self.jvp
        if self.linear:
            return lambda c: linear_jvp(self, c)
        return None

    def linear_inputs(self, n: int) -> tuple[int, ...]:
        """Positions of the linear inputs of a node with ``n`` inputs."""
        return tuple(range(n)) if self.linear == ALL else tuple(self.linear)

    @property
    def min_inputs(self) -> int:
        return self.inputs if isinstance(self.inputs, int) else self.inputs[0]

    @property
    def max_inputs(self) -> int | None:
        return self.inputs if isinstance(self.inputs, int) else self.inputs[1]

    def parse_attrs(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Normalize attrs: aliases, defaults, parsers. Raises AttrError naming the attr."""
        raw = dict(raw or {})
        out: dict[str, Any] = {}
        for attr_name, spec in self.attrs.items():
            given = [k for k in (attr_name, *spec.aliases) if k in raw]
            if len(given) > 1:
                raise AttrError(given[1], f"attr {attr_name!r} is given twice (as {given})")
            if given and raw[given[0]] is None and spec.default is not REQUIRED:
                raw.pop(given[0])  # JSON null means "the default"
                out[attr_name] = spec.default
            elif given:
                value = raw.pop(given[0])
                if spec.parse is not None:
                    try:
                        value = spec.parse(value)
                    except (ValueError, TypeError) as exc:
                        raise AttrError(given[0], f"attr {given[0]!r}: {exc}") from None
                    except EngineError as exc:  # a subgraph attr, judged whole
                        raise AttrError(given[0], f"attr {given[0]!r}: {exc}",
                                        exc.loc) from None
                out[attr_name] = value
            elif spec.default is REQUIRED:
                raise AttrError(attr_name, f"attr {attr_name!r} is required by {self.name}")
            else:
                out[attr_name] = spec.default
        if raw:
            unknown = sorted(raw)[0]
            known = ", ".join(self.attrs) or "none"
            raise AttrError(unknown, f"unknown attr {unknown!r} for {self.name} (known: {known})")
        return out

    @property
    def unbound(self) -> Callable[..., Any] | None:
        """What ``bind`` gives a node with no attrs when there is no kernel to build (the
        forward as it is), else None: a plan then need not gather the input specs."""
        fwd = self.forward
        return None if fwd is None or isinstance(fwd, Kernel) else fwd

    def bind(self, attrs: Mapping[str, Any], specs: tuple[TensorSpec, ...]) -> Callable[..., Any]:
        """A callable of the input arrays alone: attrs and static facts bound once, per plan."""
        fwd = self.forward
        assert fwd is not None, f"{self.name} has no forward"
        if isinstance(fwd, Kernel):
            return fwd.build(attrs, specs)
        if not attrs:
            return fwd  # = self.unbound
        bound = dict(attrs)
        return lambda *arrays: fwd(*arrays, **bound)


class AttrError(ValueError):
    """An attr was refused; ``attr`` names it so the error can point at it, and ``loc``
    goes on inside it (the path of a fault within a subgraph attr)."""

    def __init__(self, attr: str, message: str, loc: Sequence[str | int] = ()):
        super().__init__(message)
        self.attr = attr
        self.loc = tuple(loc)


class OpTypeError(ValueError):
    """The inputs' shapes or dtypes do not fit the op. ``input_index`` points at the culprit."""

    def __init__(self, message: str, input_index: int | None = None):
        super().__init__(message)
        self.input_index = input_index


_REGISTRY: dict[str, OpDef] = {}


def op_key(name: str) -> str:
    """Op names match ignoring case and underscores: MatMul = matmul = mat_mul."""
    return name.replace("_", "").lower()


def defop(name: str, **kwargs: Any) -> OpDef:
    """Declare an op once. Registers its name and aliases; refuses a clash."""
    op = OpDef(name=name, **kwargs)
    for alias in (name, *op.aliases):
        key = op_key(alias)
        if key in _REGISTRY and _REGISTRY[key] is not op:
            raise RuntimeError(f"op name {alias!r} is declared twice")
        _REGISTRY[key] = op
    return op


def lookup(name: str) -> OpDef | None:
    """The op a name means (any case, underscores ignored), or None."""
    op = _BY_SPELLING.get(name)
    if op is None:
        op = _REGISTRY.get(op_key(name))
        if op is not None and len(_BY_SPELLING) < 4096:
            _BY_SPELLING[name] = op
    return op


_BY_SPELLING: dict[str, OpDef] = {}


def get(name: str) -> OpDef:
    op = _BY_SPELLING.get(name) or lookup(name)
    if op is None:
        raise KeyError(name)
    return op


def all_ops() -> list[OpDef]:
    """Every distinct op, in declaration order."""
    seen: dict[int, OpDef] = {}
    for op in _REGISTRY.values():
        seen.setdefault(id(op), op)
    return list(seen.values())


# ---------------------------------------------------------------------------------------
# Shared dtype checks, used by the infer rules of every family.

DTYPE_CLASSES = {"float": FLOATING, "numeric": NUMERIC, "int": INTEGER, "bool": BOOL, "any": ANY}


def check_dtypes(specs: Sequence[TensorSpec], allowed: str = "numeric", *,
                 same: bool = True) -> str:
    """All inputs of one dtype (TensorFlow is strict), and of a class the op takes."""
    if not specs:
        return "float32"
    first = specs[0].dtype
    if same:
        for i, s in enumerate(specs[1:], start=1):
            if s.dtype != first:
                raise OpTypeError(
                    f"input {i} has dtype {s.dtype} but input 0 has {first}; "
                    f"inputs must share one dtype (insert a 'cast' node)",
                    input_index=i,
                )
    kinds = DTYPE_CLASSES[allowed]
    for i, s in enumerate(specs):
        if s.dtype not in kinds:
            raise OpTypeError(
                f"input {i} has dtype {s.dtype}, which this op does not take "
                f"(it takes {allowed}: {', '.join(sorted(kinds))}; insert a 'cast' node)",
                input_index=i,
            )
    return first
