"""Einstein-summation equations made explicit: one letter per axis, no ellipsis, an output.

``resolve`` turns an equation as users write it (implicit output, ``...`` broadcasting)
into a ``Contraction`` against the operands' ranks, so that the forward, the shape rule
and the VJP all work on one plain form. Ellipsis axes get letters the equation does not
use, aligned from the right as numpy broadcasts them. As in numpy, a size 1 broadcasts
against a larger size under any letter (so the gradients, written with explicit letters,
stay einsums); ``tensordot`` contracts strictly.
"""
from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from ..shapes import Shape

LETTERS = string.ascii_letters
ELLIPSIS = "..."


@dataclass(frozen=True, slots=True)
class Contraction:
    """Explicit subscripts per operand and for the output; ``broadcast``: the letters whose
    size 1 may meet a larger size."""

    inputs: tuple[str, ...]
    output: str
    broadcast: frozenset[str] = frozenset()

    @property
    def equation(self) -> str:
        return ",".join(self.inputs) + "->" + self.output

    def sizes(self, shapes: Sequence[Shape]) -> dict[str, int | None]:
        """Each letter's size (None: unknown); raises ValueError at a disagreement."""
        seen: dict[str, list[tuple[int, int | None]]] = {}
        for k, (subs, shape) in enumerate(zip(self.inputs, shapes, strict=True)):
            for letter, d in zip(subs, shape, strict=True):
                seen.setdefault(letter, []).append((k, d))
        return {letter: self._size(letter, dims) for letter, dims in seen.items()}

    def _check_diagonals(self, shapes: Sequence[Shape]) -> None:
        """A letter repeated inside one operand (a diagonal) needs equal, known sizes there
        (its gradient places values on that diagonal with an identity matrix)."""
        for k, (subs, shape) in enumerate(zip(self.inputs, shapes, strict=True)):
            for letter in sorted(set(subs)):
                dims = [d for ch, d in zip(subs, shape, strict=True) if ch == letter]
                if len(dims) > 1 and (None in dims or len(set(dims)) > 1):
                    raise ValueError(f"operand {k} takes a diagonal over subscript {letter!r}, "
                                     f"which needs equal known sizes, got "
                                     f"{['?' if d is None else d for d in dims]}")

    def _size(self, letter: str, dims: list[tuple[int, int | None]]) -> int | None:
        may_broadcast = letter in self.broadcast
        size, first, unknown = None, -1, False
        for k, d in dims:
            if d is None:
                unknown = True
            elif may_broadcast and d == 1:
                continue
            elif size is None:
                size, first = d, k
            elif d != size:
                raise ValueError(f"subscript {letter!r} has size {size} in operand {first} "
                                 f"but {d} in operand {k}")
        if size is None and not unknown:
            return 1
        return size

    def output_shape(self, shapes: Sequence[Shape]) -> Shape:
        self._check_diagonals(shapes)
        sizes = self.sizes(shapes)
        return tuple(sizes[letter] for letter in self.output)


def parse_equation(v: object) -> str:
    """The ``equation`` attr: letters, commas, at most one ``->``, ``...``; spaces dropped."""
    if not isinstance(v, str):
        raise ValueError(f"expected an einsum equation string, got {v!r}")
    eq = v.replace(" ", "")
    if eq.count("->") > 1:
        raise ValueError(f"equation {v!r} has more than one '->'")
    lhs, _, rhs = eq.partition("->")
    for term in [*lhs.split(","), rhs]:
        rest = term.replace(ELLIPSIS, "", 1)
        if ELLIPSIS in rest or "." in rest:
            raise ValueError(f"equation {v!r}: '.' only as one '...' per operand")
        bad = [ch for ch in rest if ch not in LETTERS]
        if bad:
            raise ValueError(f"equation {v!r}: {bad[0]!r} is not a subscript letter")
    return eq


def resolve(equation: str, ranks: Sequence[int]) -> Contraction:
    """The explicit form of ``equation`` for operands of these ranks (ValueError if none)."""
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"equation {equation!r} has {len(terms)} operand(s) but the op has "
                         f"{len(ranks)} input(s)")
    spare = [ch for ch in LETTERS if ch not in equation]
    ell_ranks = [_ellipsis_rank(term, rank, k) for k, (term, rank) in
                 enumerate(zip(terms, ranks, strict=True))]
    width = max((e for e in ell_ranks if e is not None), default=0)
    if width > len(spare):
        raise ValueError(f"equation {equation!r}: too many broadcast axes to name")
    ell = "".join(spare[:width])
    inputs = tuple(term.replace(ELLIPSIS, ell[width - e:]) if e is not None else term
                   for term, e in zip(terms, ell_ranks, strict=True))
    uses_ellipsis = any(e is not None for e in ell_ranks)
    if arrow:
        output = _explicit_output(rhs, ell, uses_ellipsis, equation)
    else:
        letters = "".join(terms)
        output = ell + "".join(sorted(ch for ch in set(letters) if ch in LETTERS
                                      and letters.count(ch) == 1))
    unknown = [ch for ch in output if ch not in "".join(inputs)]
    if unknown:
        raise ValueError(f"output subscript {unknown[0]!r} is in no operand")
    return Contraction(inputs, output, frozenset("".join(inputs)))


def _ellipsis_rank(term: str, rank: int, k: int) -> int | None:
    """How many axes the operand's ``...`` stands for (None: it has none)."""
    named = len(term.replace(ELLIPSIS, ""))
    if ELLIPSIS in term:
        if named > rank:
            raise ValueError(f"operand {k} has rank {rank} but its subscripts {term!r} name "
                             f"{named} axes")
        return rank - named
    if named != rank:
        raise ValueError(f"operand {k} has rank {rank} but its subscripts {term!r} name "
                         f"{named} axes")
    return None


def _explicit_output(rhs: str, ell: str, uses_ellipsis: bool, equation: str) -> str:
    if ELLIPSIS in rhs:
        rhs = rhs.replace(ELLIPSIS, ell)
    elif ell:
        raise ValueError(f"equation {equation!r}: the operands' '...' axes need a '...' in "
                         "the output")
    repeated = sorted({ch for ch in rhs if rhs.count(ch) > 1})
    if repeated:
        raise ValueError(f"output subscript {repeated[0]!r} is repeated")
    return rhs


def untie(subs: str, taken: str) -> tuple[str, list[tuple[str, str]]]:
    """``subs`` with each repeat of a letter renamed to a fresh one, and the (letter, fresh)
    pairs: "iij" -> ("iaj", [("i", "a")]). ``taken``: letters not to use."""
    spare = iter(ch for ch in LETTERS if ch not in taken and ch not in subs)
    out, ties = [], []
    for ch in subs:
        if ch in out:
            fresh = next(spare, None)
            if fresh is None:
                raise ValueError("too many repeated subscripts to name")
            ties.append((ch, fresh))
            ch = fresh
        out.append(ch)
    return "".join(out), ties
