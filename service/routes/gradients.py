"""POST /gradients: TensorFlow's tf.gradients."""
from fastapi import APIRouter, Request, Response

from ..schemas import GradientsRequest, GradientsResponse
from .relay import answers, body_of, relay

router = APIRouter(tags=["gradients"])


@router.post("/gradients", summary="tf.gradients of a graph", response_model=None,
             openapi_extra=body_of(GradientsRequest), responses=answers(GradientsResponse))
async def gradients(request: Request) -> Response:
    """The total derivative of the sum of `ys` with respect to each of `xs` (API.md §3)."""
    return await relay(request, "gradients")
