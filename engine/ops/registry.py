"""The op registry: every op is one ``OpDef``, declared once with ``defop``.

An ``OpDef`` holds what the rest of the house needs to know of an op: its names, how many
inputs it takes, its attrs with their defaults and accepted forms, the static shape and
dtype rule, the numpy forward, and the VJP rule (written with graph ops, so that it can be
differentiated again). Nothing outside ``engine/ops`` knows any op by name except the
leaves and the handful of helpers autodiff itself emits (``add_n``, ``ones_like``, ...).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..dtypes import ANY, BOOL, FLOATING, INTEGER, NUMERIC
from ..shapes import Shape, fmt

REQUIRED = object()


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Static knowledge of one tensor: shape (``None`` = unknown dimension) and dtype."""

    shape: Shape
    dtype: str

    def __str__(self) -> str:
        return f"{self.dtype}{fmt(self.shape)}"


@dataclass(frozen=True, slots=True)
class Attr:
    """One attr: its default (``REQUIRED`` if none) and a parser that normalizes or refuses."""

    default: Any = REQUIRED
    parse: Callable[[Any], Any] | None = None
    aliases: tuple[str, ...] = ()


InferFn = Callable[[tuple[TensorSpec, ...], Mapping[str, Any]], "TensorSpec | Sequence[TensorSpec]"]


@dataclass(frozen=True)
class OpDef:
    """Everything about one op. See the module docstring."""

    name: str
    infer: InferFn
    forward: Callable[..., Any] | None
    vjp: Callable[[Any], Sequence[Any]] | None = None
    aliases: tuple[str, ...] = ()
    inputs: int | tuple[int, int | None] = 1
    attrs: Mapping[str, Attr] = field(default_factory=dict)
    kernel: Callable[[Mapping[str, Any], tuple[TensorSpec, ...]], Callable[..., Any]] | None = None
    leaf: bool = False
    multi_output: bool = False  # infer returns a list of specs; outputs are "name:k"
    doc: str = ""

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

    def bind(self, attrs: Mapping[str, Any], specs: tuple[TensorSpec, ...]) -> Callable[..., Any]:
        """A callable of the input arrays alone: attrs and static facts bound once, per plan."""
        if self.kernel is not None:
            return self.kernel(attrs, specs)
        fwd = self.forward
        assert fwd is not None, f"{self.name} has no forward"
        if not attrs:
            return fwd
        bound = dict(attrs)
        return lambda *arrays: fwd(*arrays, **bound)


class AttrError(ValueError):
    """An attr was refused; ``attr`` names it so the error can point at it."""

    def __init__(self, attr: str, message: str):
        super().__init__(message)
        self.attr = attr


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
        _ensure_loaded()
        op = _REGISTRY.get(op_key(name))
        if op is not None and len(_BY_SPELLING) < 4096:
            _BY_SPELLING[name] = op
    return op


_BY_SPELLING: dict[str, OpDef] = {}


def get(name: str) -> OpDef:
    op = lookup(name)
    if op is None:
        raise KeyError(name)
    return op


def all_ops() -> list[OpDef]:
    """Every distinct op, in declaration order."""
    _ensure_loaded()
    seen: dict[int, OpDef] = {}
    for op in _REGISTRY.values():
        seen.setdefault(id(op), op)
    return list(seen.values())


_loaded = False


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import load_all

        load_all()


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
