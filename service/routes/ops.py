"""GET /ops and /ops/{name}: the op catalogue as the engine declares it; GET /onnx/ops:
the ONNX ops onnxio lowers onto it."""
from __future__ import annotations

import asyncio
import functools
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from engine.ops import registry

from ..problems import ProblemError

router = APIRouter(tags=["ops"])


class AttrInfo(BaseModel):
    required: bool
    default: Any = None
    aliases: list[str] = []


class OpInfo(BaseModel):
    name: str
    aliases: list[str]
    min_inputs: int
    max_inputs: int | None
    attrs: dict[str, AttrInfo]
    multi_output: bool
    differentiable: bool
    doc: str


def _plain(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def _info(op: registry.OpDef) -> OpInfo:
    attrs = {name: AttrInfo(required=a.default is registry.REQUIRED,
                            default=None if a.default is registry.REQUIRED else _plain(a.default),
                            aliases=list(a.aliases)) for name, a in op.attrs.items()}
    return OpInfo(name=op.name, aliases=list(op.aliases), min_inputs=op.min_inputs,
                  max_inputs=op.max_inputs, attrs=attrs, multi_output=op.multi_output,
                  differentiable=op.vjp is not None, doc=op.doc)


@router.get("/ops", summary="The op catalogue")
async def list_ops() -> list[OpInfo]:
    """Every op a graph node may name, with its aliases, input counts and attrs."""
    return [_info(op) for op in registry.all_ops()]


@router.get("/ops/{name}", summary="One op", responses={404: {"description": "Unknown op."}})
async def get_op(name: str) -> OpInfo:
    """One op, looked up as graphs look ops up (case and underscores ignored)."""
    op = registry.lookup(name)
    if op is None:
        raise ProblemError("not-found", f"no op named {name!r}", [(["path", "name"],
                                                                    "unknown op")])
    return _info(op)


class OnnxOpInfo(BaseModel):
    op_type: str
    domain: str = Field(description="'' is the default ONNX domain (ai.onnx).")
    versions: list[int] = Field(description="The op's versions (since_version) handled.")
    attributes: list[str] = Field(description="The attributes read.")
    lowering: str = Field(description="What it becomes in our op catalogue.")
    folded_only: bool = Field(description="Taken only where all its inputs are known at "
                              "import (shape arithmetic), which folds it to a constant.")


@functools.cache
def _onnx_ops() -> list[OnnxOpInfo]:
    import onnxio  # imports onnx: once, in a thread, on the first call

    return [OnnxOpInfo(**op) for op in onnxio.supported_ops()]


@router.get("/onnx/ops", summary="The ONNX ops a {\"onnx\"} graph may use")
async def list_onnx_ops() -> list[OnnxOpInfo]:
    """Every ONNX op (default domain, opsets 13-21) that ONNX graphs and model.onnx files
    may use, with the versions and attributes handled and what each is lowered to."""
    return await asyncio.to_thread(_onnx_ops)
