"""The wire models of API.md (pydantic v2): graphs, both requests, their answers.

pydantic judges the request envelope and gives the OpenAPI description. Two things it
only describes: tensors (``Tensor`` is documented as the three forms but passed on as raw
JSON; ``codec.decode`` checks and converts each one in a single numpy step with its JSON
path) and graphs (``Graph`` fields are documented by ``GraphSpec`` and its node models
but passed on as raw JSON; the engine's ``Graph.from_description`` is their one judge and
names the node at fault).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    WrapValidator,
    field_validator,
)

_NUMBER_OR_WORD = {"anyOf": [{"type": "number"}, {"type": "boolean"},
                             {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
_DTYPE_SCHEMA = {"type": "string", "description": "float32, float64, float16, int32, int64, "
                 "bool, or an Open Inference Protocol name (FP32, FP64, FP16, INT32, INT64, "
                 "BOOL)", "examples": ["float32"]}
_SHAPE_SCHEMA = {"type": "array", "items": {"type": "integer", "minimum": 0}}
TENSOR_SCHEMA: dict[str, Any] = {
    "title": "Tensor",
    "description": "A tensor: nested lists (dtype from the node it feeds, else float32), "
                   "typed {dtype, shape, data} or base64 {dtype, shape, b64} (little-endian "
                   "row-major). Non-finite values are the strings NaN, Infinity, -Infinity.",
    "anyOf": [
        {**_NUMBER_OR_WORD, "title": "Scalar"},
        {"type": "array", "title": "Nested", "items": {}},
        {"type": "object", "title": "Typed", "required": ["shape", "data"],
         "additionalProperties": False,
         "properties": {"dtype": _DTYPE_SCHEMA, "shape": _SHAPE_SCHEMA,
                        "data": {"type": "array", "items": _NUMBER_OR_WORD}}},
        {"type": "object", "title": "Base64", "required": ["dtype", "shape", "b64"],
         "additionalProperties": False,
         "properties": {"dtype": _DTYPE_SCHEMA, "shape": _SHAPE_SCHEMA,
                        "b64": {"type": "string", "contentEncoding": "base64"}}},
    ],
}
Tensor = Annotated[Any, WithJsonSchema(TENSOR_SCHEMA)]
Encoding = Literal["nested", "typed", "base64"]


def _one_or_many(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


Names = Annotated[
    list[str], BeforeValidator(_one_or_many),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                    "description": "A node name or a list of them (name:k for output k)."}),
]


class Wire(BaseModel):
    """Strict (no "3" for 3) and closed (an unknown field is an error, not a silent no-op)."""

    model_config = ConfigDict(strict=True, extra="forbid")


# -- graphs -----------------------------------------------------------------------------------

class PlaceholderNode(Wire):
    name: str
    op: str = Field(description="placeholder")
    shape: list[int | None] = Field(description="Dimensions; null for one known at run time.")
    dtype: str = Field("float32", json_schema_extra=_DTYPE_SCHEMA)


class Initializer(Wire):
    kind: Literal["zeros", "ones", "constant", "normal", "uniform", "glorot_uniform"]
    seed: int | None = None
    value: float | None = None
    mean: float | None = None
    stddev: float | None = None
    minval: float | None = None
    maxval: float | None = None


class VariableNode(Wire):
    name: str
    op: str = Field(description="variable (or parameter)")
    value: Tensor = None
    initializer: Initializer | None = None
    shape: list[int | None] | None = None
    dtype: str | None = Field(None, json_schema_extra=_DTYPE_SCHEMA)
    trainable: bool = True


class ConstantNode(Wire):
    name: str
    op: str = Field(description="constant")
    value: Tensor
    shape: list[int | None] | None = None
    dtype: str | None = Field(None, json_schema_extra=_DTYPE_SCHEMA)


class OpNode(Wire):
    name: str
    op: str = Field(description="An op of the catalogue (GET /ops); case and underscores "
                    "are ignored.")
    inputs: list[str] = Field([], description="Input tensors by name (name:k for output k).")
    attrs: dict[str, Any] = {}


Node = PlaceholderNode | VariableNode | ConstantNode | OpNode


class GraphSpec(Wire):  # documents graphs; validating them is the engine's (see Graph)
    """A computation graph (API.md section 2)."""

    nodes: list[Node]
    inputs: list[str] | None = Field(None, description="Positional inputs (placeholders); "
                                     "default: the placeholders in node order.")
    outputs: Names | None = Field(None, description="Network outputs; default: the last node.")


# A graph field: described by GraphSpec, passed on as the raw JSON the engine judges.
Graph = Annotated[GraphSpec, WrapValidator(lambda raw, _: raw)]

# -- requests -------------------------------------------------------------------------------

_AGGREGATIONS = {"default": "add_n", "add_n": "add_n", "0": "add_n",
                 "experimental_tree": "experimental_tree", "1": "experimental_tree",
                 "experimental_accumulate_n": "experimental_accumulate_n",
                 "2": "experimental_accumulate_n"}


class GradientsRequest(Wire):
    """tf.gradients (API.md section 3)."""

    graph: Graph
    feeds: dict[str, Tensor] = {}
    ys: Names
    xs: Names
    grad_ys: Annotated[Any, WithJsonSchema({
        "anyOf": [{"type": "array", "items": {"anyOf": [TENSOR_SCHEMA, {"type": "null"}]}},
                  TENSOR_SCHEMA, {"type": "null"}],
        "description": "Aligned with ys; null entries mean ones of that y's shape."})] = None
    stop_gradients: Names = []
    unconnected_gradients: Annotated[str, WithJsonSchema(
        {"type": "string", "enum": ["none", "zero", "NONE", "ZERO"]})] = "none"
    aggregation_method: Annotated[str | int | None, WithJsonSchema({"anyOf": [
        {"type": "string", "enum": ["default", "add_n", "experimental_tree",
                                    "experimental_accumulate_n"]},
        {"type": "integer", "enum": [0, 1, 2]}, {"type": "null"}],
        "description": "Names in any case, or TensorFlow's integers."})] = None
    gate_gradients: bool = Field(False, description="Accepted; no effect on results.")
    colocate_gradients_with_ops: bool = Field(False, description="Accepted; no effect.")
    name: str = Field("gradients", description="Prefix of the gradient nodes.")
    return_values: bool = False
    return_graph: bool = False
    encoding: Encoding = "nested"

    @field_validator("unconnected_gradients")
    @classmethod
    def _unconnected(cls, v: str) -> str:
        if v.lower() not in ("none", "zero"):
            raise ValueError(f"must be 'none' or 'zero', got {v!r}")
        return v.lower()

    @field_validator("aggregation_method")
    @classmethod
    def _aggregation(cls, v: str | int | None) -> str:
        key = "default" if v is None else str(v).lower()
        if key not in _AGGREGATIONS:
            raise ValueError("must be null, 'default', 'add_n', 'experimental_tree', "
                             f"'experimental_accumulate_n' or 0, 1, 2; got {v!r}")
        return _AGGREGATIONS[key]


class GradOperationRequest(Wire):
    """MindSpore GradOperation (API.md section 4)."""

    network: Graph
    args: list[Tensor] = Field([], description="Aligned with the network's inputs.")
    get_all: bool = False
    get_by_list: bool = False
    sens_param: bool = False
    sens: Annotated[Any, WithJsonSchema({"anyOf": [TENSOR_SCHEMA, {"type": "array", "items":
                                         TENSOR_SCHEMA}, {"type": "null"}],
                                         "description": "One tensor per output (a list when "
                                         "there are several); only with sens_param."})] = None
    weights: list[str] | None = Field(None, description="Variables for get_by_list; default: "
                                      "every trainable variable in node order.")
    feeds: dict[str, Tensor] = Field({}, description="Extension: override variable values.")
    encoding: Encoding = "nested"


# -- answers --------------------------------------------------------------------------------

class GradientsResponse(BaseModel):
    gradients: list[Annotated[Any, WithJsonSchema(
        {"anyOf": [TENSOR_SCHEMA, {"type": "null"}]})]]
    values: dict[str, Tensor] | None = Field(None, description="With return_values.")
    graph: GraphSpec | None = Field(None, description="With return_graph: the graph plus "
                                    "the gradient nodes.")
    gradient_nodes: list[str | None] | None = Field(None, description="With return_graph.")


class GradOperationResponse(BaseModel):
    gradients: Annotated[Any, WithJsonSchema({
        "description": "MindSpore's structure: a tensor (neither flag), a list per input "
                       "or weight, or [[inputs...], [weights...]]."})]
