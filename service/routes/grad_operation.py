"""POST /grad-operation: MindSpore's ops.GradOperation."""
from fastapi import APIRouter, Request, Response

from ..schemas import GradOperationRequest, GradOperationResponse
from .relay import answers, body_of, relay

router = APIRouter(tags=["gradients"])


@router.post("/grad-operation", summary="MindSpore GradOperation of a network",
             response_model=None, openapi_extra=body_of(GradOperationRequest),
             responses=answers(GradOperationResponse))
async def grad_operation(request: Request) -> Response:
    """Gradients with MindSpore's get_all / get_by_list / sens_param structure (API.md §4)."""
    return await relay(request, "grad_operation")
