"""The wire models of API.md (pydantic v2): graphs, the requests, their answers.

pydantic judges the request envelope and gives the OpenAPI description. Two things it
only describes: tensors (``Tensor`` is documented as its forms but passed on as raw JSON;
``codec.decode`` checks and converts each one in a single numpy step with its JSON path)
and graphs (``Graph`` is documented by ``GraphSpec`` and ``Node`` but passed on as raw
JSON; the engine's ``Graph.from_description`` is their one judge and names the node at
fault).

The building blocks here are what every endpoint's models are written with, so each new
endpoint inherits a description that client generators take whole: a tensor, a list of
names, a graph, an encoding are each one named component (``$ref``), never an inline
union; a choice documents only its canonical spelling (other spellings are accepted, not
listed, so no two enum values differ only by case); and a field whose absence means
something no single value of its type says is documented without a ``default``
(``absent``), so no generator invents one.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    WrapValidator,
    field_validator,
)
from typing_extensions import TypeAliasType

# Documented by its type, judged elsewhere: the raw JSON is passed on unchanged.
Described = WrapValidator(lambda raw, _: raw)


def absent(description: str) -> Any:
    """An optional field with no ``default`` in the schema: leaving it out means what
    ``description`` says (it depends on other fields, or the server decides)."""
    return Field(default_factory=_nothing, description=description)


def _nothing() -> None:
    return None


def no_tensors(description: str) -> Any:
    """An optional map of tensors, empty by default (documented so): made anew for each
    request, where a ``{}`` default was deep-copied by every validation."""
    return Field(default_factory=dict, description=description,
                 json_schema_extra={"default": {}})


def choice(*canonical: str) -> Any:
    """A string from ``canonical``, accepted in any case and answered in the canonical
    one; only the canonical spellings are documented (an enum of case variants collides
    as generated enum keys)."""
    wanted = " or ".join(repr(c) for c in canonical)

    def lower(v: str) -> str:
        if v.lower() not in canonical:
            raise ValueError(f"must be {wanted}, got {v!r}")
        return v.lower()

    return Annotated[str, AfterValidator(lower), WithJsonSchema(
        {"type": "string", "enum": list(canonical), "description": "Any case is accepted."})]


class Wire(BaseModel):
    """Strict (no "3" for 3) and closed (an unknown field is an error, not a silent no-op)."""

    model_config = ConfigDict(strict=True, extra="forbid")


# -- tensors ----------------------------------------------------------------------------------

_DTYPES = ("float32, float64, float16, int32, int64, bool, or an Open Inference Protocol "
           "name (FP32, FP64, FP16, INT32, INT64, BOOL)")
DType = TypeAliasType("DType", Annotated[str, WithJsonSchema(
    {"type": "string", "description": _DTYPES, "examples": ["float32"]})])
Shape = list[Annotated[int, Field(ge=0)]]
NonFinite = TypeAliasType("NonFinite", Literal["NaN", "Infinity", "-Infinity"])
Number = float | bool | NonFinite


class TypedTensor(Wire):
    """A tensor as flat row-major ``data`` of a ``shape``."""

    dtype: DType = absent("Default: the dtype of the node it feeds, else float32.")
    shape: Shape
    data: list[Number]


class Base64Tensor(Wire):
    """A tensor as its little-endian row-major bytes: the fast path for large tensors."""

    dtype: DType
    shape: Shape
    b64: str = Field(json_schema_extra={"contentEncoding": "base64"})


Tensor = TypeAliasType("Tensor", Annotated[
    Number | list[Any] | TypedTensor | Base64Tensor, Described,
    Field(description="A tensor: a number, nested lists (dtype from the node it feeds, "
          "else float32), typed {dtype, shape, data} or base64 {dtype, shape, b64}. "
          "Non-finite values are the strings NaN, Infinity, -Infinity.")])
Encoding = TypeAliasType("Encoding", Literal["nested", "typed", "base64"])
# A tensor inside a hand-written schema (WithJsonSchema): the component, never its forms
# inline (the component is there whenever any model uses Tensor, as the requests do).
TENSOR_SCHEMA: dict[str, Any] = {"$ref": "#/components/schemas/Tensor"}


def _one_or_many(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


Names = TypeAliasType("Names", Annotated[
    list[str], BeforeValidator(_one_or_many),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                    "description": "A node name or a list of them (name:k for output k)."})])


# -- graphs -----------------------------------------------------------------------------------

class Initializer(Wire):
    """How a variable's value is made (with the node's shape and dtype)."""

    kind: Literal["zeros", "ones", "constant", "normal", "uniform", "glorot_uniform"]
    seed: Annotated[int, Field(ge=0)] = absent("Random kinds: the seed; default: unseeded.")
    value: float = absent("constant: the fill value (default 0).")
    mean: float = absent("normal: the mean (default 0).")
    stddev: float = absent("normal: the standard deviation (default 1).")
    minval: float = absent("uniform: the lower bound (default 0).")
    maxval: float = absent("uniform: the upper bound (default 1).")


class Node(Wire):  # documents nodes; validating them is the engine's (see Graph)
    """One node. Which fields it takes depends on its `op` (matched ignoring case and
    underscores), which is free text, so every kind is this one schema:
    `placeholder`: shape, dtype (default float32);
    `variable` (or `parameter`): value, or initializer with shape and dtype; trainable;
    `constant`: value (shape, dtype);
    any op of the catalogue (GET /ops): inputs, attrs."""

    name: str
    op: str = Field(description="placeholder, variable, parameter, constant, or an op of "
                    "the catalogue (GET /ops); case and underscores are ignored.")
    inputs: list[str] = absent("Op nodes: input tensors by name (name:k for output k).")
    attrs: dict[str, Any] = absent("Op nodes: the op's attributes (GET /ops/{name}).")
    shape: list[int | None] = absent("Leaves: dimensions; null (or -1) for one known only "
                                     "when fed.")
    dtype: DType = absent("Leaves: the element type (placeholders: float32; variables and "
                          "constants: their value's, else float32).")
    value: Tensor = absent("Variables and constants: the value.")
    initializer: Initializer = absent("Variables: how the value is made, instead of value.")
    trainable: bool = absent("Variables: whether get_by_list takes it (default true).")


class GraphSpec(Wire):  # documents graphs; validating them is the engine's (see Graph)
    """A computation graph (API.md section 2)."""

    nodes: list[Node]
    inputs: list[str] = absent("Positional inputs (placeholders); default: the "
                               "placeholders in node order.")
    outputs: Names = absent("Network outputs; default: the last node.")


class OnnxGraph(Wire):  # documents ONNX graphs; onnxio judges them (in the worker)
    """An ONNX model where a graph is expected (API.md section 9): its value names are the
    node names (an exact name match wins over the name:k reading)."""

    onnx: str = Field(description="The base64 of a serialized ONNX ModelProto (opsets "
                      "13-21; GET /onnx/ops lists the ops).",
                      json_schema_extra={"contentEncoding": "base64"})


# A graph field: described by GraphSpec or OnnxGraph, passed on as the raw JSON the engine
# (or onnxio) judges.
Graph = Annotated[GraphSpec | OnnxGraph, Described]

# -- request building blocks ---------------------------------------------------------------

class NodeSeed(Wire):
    """A node of the graph as a seed (grad_ys, sens): the gradient depends on it."""

    node: str = Field(description="The seeding node's name (name:k for output k).")


Seed = Annotated[Tensor | NodeSeed, Described]


class VMap(Wire):
    """JAX's vmap(f, in_axes) with out_axes=0: the request mapped over examples."""

    in_axes: dict[str, int] = Field(description="Mapped feeds (for /grad-operation, /grad "
                                    "and /value-and-grad: network inputs or fed variables) "
                                    "and the axis of each that holds the examples; "
                                    "negative axes count from the end.")


_VMAP = Field(None, description="Map the whole request over examples: every tensor of "
              "the answer gains a leading axis B.")

# -- requests -------------------------------------------------------------------------------

Unconnected = choice("none", "zero")
GraphFormat = choice("json", "onnx")
_AGGREGATIONS = {"default": "add_n", "add_n": "add_n", "0": "add_n",
                 "experimental_tree": "experimental_tree", "1": "experimental_tree",
                 "experimental_accumulate_n": "experimental_accumulate_n",
                 "2": "experimental_accumulate_n"}


class ModelRequest(Wire):
    """A compute request: its graph is inline (``graph`` / ``network``) or a registered
    model named by ``model``; exactly one of the two (judged in the worker's ``Call.graph``,
    which also looks the name up)."""

    model: Annotated[str | None, WithJsonSchema({"type": "string", "examples": ["seed"]})
                     ] = absent("A registered model's name (GET /models), in place of the "
                                "graph.")


class GradientsRequest(ModelRequest):
    """tf.gradients (API.md section 3)."""

    graph: Graph = absent("The graph; or give `model`.")
    feeds: dict[str, Tensor] = no_tensors("Tensors by node name: the "
                                     "placeholders the ys need, and variables to override.")
    ys: Names
    xs: Names
    grad_ys: Annotated[list[Tensor | NodeSeed | None] | Tensor | NodeSeed | None, Described] = (
        Field(None, description="Aligned with ys; null entries mean ones of that y's shape; "
              '{"node": NAME} seeds with a node of the graph.'))
    stop_gradients: Names = Field(default_factory=list, description="Nodes treated as "
                                  "constants; default: none.")
    unconnected_gradients: Unconnected = "none"
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
    vmap: VMap | None = _VMAP
    graph_format: GraphFormat = Field("json", description="With return_graph: 'json' (a "
                                      "graph of ours) or 'onnx' ({\"onnx\": base64}, a "
                                      "model onnxruntime runs to the gradients).")
    encoding: Encoding = "nested"

    @field_validator("aggregation_method")
    @classmethod
    def _aggregation(cls, v: str | int | None) -> str:
        key = "default" if v is None else str(v).lower()
        if key not in _AGGREGATIONS:
            raise ValueError("must be null, 'default', 'add_n', 'experimental_tree', "
                             f"'experimental_accumulate_n' or 0, 1, 2; got {v!r}")
        return _AGGREGATIONS[key]


class GradOperationRequest(ModelRequest):
    """MindSpore GradOperation (API.md section 4)."""

    network: Graph = absent("The network; or give `model`.")
    args: list[Tensor] = Field([], description="Aligned with the network's inputs.")
    get_all: bool = False
    get_by_list: bool = False
    sens_param: bool = False
    sens: Annotated[Tensor | NodeSeed | list[Seed] | None, Described] = Field(
        None, description="One tensor per output (a list when there are several); only "
        'with sens_param; {"node": NAME} seeds with a node of the network.')
    weights: list[str] | None = Field(None, description="Variables for get_by_list; default: "
                                      "every trainable variable in node order.")
    feeds: dict[str, Tensor] = no_tensors("Extension: override variable values.")
    vmap: VMap | None = _VMAP
    encoding: Encoding = "nested"


# -- API.md section 6: functions -------------------------------------------------------------

Dialect = choice("tensorflow", "mindspore")
JacobianMode = choice("auto", "reverse", "forward")


class FunctionRequest(ModelRequest):
    """The base fields of every functional transform (API.md section 6)."""

    graph: Graph = absent("The graph; or give `model`.")
    feeds: dict[str, Tensor] = no_tensors("Tensors by node name: placeholders, "
                                     "and variables to override.")
    inputs: Names = absent("The primals (placeholders, variables); default: the graph's "
                           "inputs of floating dtype.")
    outputs: Names = absent("Default: the graph's outputs.")
    dialect: Dialect = Field("tensorflow", description="The convention table used at kinks.")
    vmap: VMap | None = _VMAP
    encoding: Encoding = "nested"


class EvaluateRequest(FunctionRequest):
    """The outputs' values."""


_BATCHED = Field(False, description="Every entry carries a leading axis of one size K; "
                 "all K are computed in one pass.")


class JvpRequest(FunctionRequest):
    """Forward mode: J·v."""

    inputs: Names = absent("The primals; default: the keys of tangents.")
    tangents: dict[str, Tensor] = no_tensors("By input; a missing one is zero.")
    batched: bool = _BATCHED


class VjpRequest(FunctionRequest):
    """Reverse mode: vᵀ·J."""

    outputs: Names = absent("Default: the keys of cotangents.")
    cotangents: dict[str, Tensor] = no_tensors("By output; a missing one is zero.")
    batched: bool = _BATCHED


class JacobianRequest(FunctionRequest):
    """Every output's Jacobian with respect to every input."""

    mode: JacobianMode = Field(
        "auto", description="reverse: a batched VJP over the output elements; forward: a "
        "batched JVP over the input elements; auto: the smaller batch (reverse on a tie).")


class HessianRequest(FunctionRequest):
    """Every output's second derivatives with respect to every pair of inputs."""


class HvpRequest(FunctionRequest):
    """Hessian-vector products of one scalar output, no Hessian made."""

    inputs: Names = absent("The primals; default: the keys of vectors.")
    outputs: Names = absent("One output of shape []; default: the graph's outputs.")
    vectors: dict[str, Tensor] = no_tensors("By input; a missing one is zero.")
    batched: bool = _BATCHED


# -- API.md section 7: MindSpore 2.x grad and value_and_grad ---------------------------------

class GradRequest(ModelRequest):
    """mindspore.grad / mindspore.value_and_grad of a network."""

    network: Graph = absent("The network; or give `model`.")
    args: list[Tensor] = Field([], description="Aligned with the network's inputs.")
    grad_position: int | list[int] | None = absent(
        "Default 0. An input position (a bare gradient), a list of them (a tuple; [k] "
        "answers like k), or null (no input).")
    weights: str | list[str] | None = Field(None, description="Variables: a list "
                                            "(ParameterTuple) or one name (bare).")
    has_aux: bool = Field(False, description="Differentiate the first output only; the "
                          "others come back as aux.")
    return_ids: bool = Field(False, description="Each gradient as [id, gradient]: the input "
                             "position or the weight name.")
    feeds: dict[str, Tensor] = no_tensors("Extension: override variable values.")
    vmap: VMap | None = _VMAP
    encoding: Encoding = "nested"


# -- answers --------------------------------------------------------------------------------

class GradientsResponse(BaseModel):
    gradients: list[Tensor | None] = Field(description="Aligned with xs; null for an x "
                                           "no y depends on (unconnected_gradients none).")
    values: dict[str, Tensor] = absent("With return_values: the ys' values by name.")
    graph: GraphSpec | OnnxGraph = absent("With return_graph: the graph plus the gradient "
                                          "nodes (as ONNX with graph_format 'onnx').")
    gradient_nodes: list[str | None] = absent("With return_graph: the gradient node of "
                                              "each x, aligned with xs.")


class GradOperationResponse(BaseModel):
    gradients: Tensor | list[Tensor] | list[list[Tensor]] = Field(
        description="MindSpore's structure: a tensor (neither flag), a list per input or "
                    "weight, or [[inputs...], [weights...]].")


ByName = dict[str, Tensor]


class EvaluateResponse(BaseModel):
    values: ByName = Field(description="By output name, as the request wrote it.")


class JvpResponse(EvaluateResponse):
    tangents: ByName = Field(description="J·v by output.")


class VjpResponse(EvaluateResponse):
    cotangents: ByName = Field(description="vᵀ·J by input.")


class JacobianResponse(EvaluateResponse):
    jacobian: dict[str, ByName] = Field(description="By output, then input: of shape "
                                        "output.shape + input.shape.")


class HessianResponse(EvaluateResponse):
    hessian: dict[str, dict[str, ByName]] = Field(
        description="By output, input i, input j: of shape out.shape + in_i.shape + "
                    "in_j.shape.")


class HvpResponse(EvaluateResponse):
    gradient: ByName = Field(description="The gradient by input.")
    hvp: ByName = Field(description="Σ_j H_ij·v_j by input.")


_MS_GRADIENTS = Field(description="MindSpore 2.10's structure, tuples as lists: a tensor, a "
                      "list per position, [inputs part, weights part], or the weights part; "
                      "with return_ids each gradient is [id, gradient].")


class GradResponse(BaseModel):
    gradients: Tensor | list[Any] = _MS_GRADIENTS
    aux: list[Tensor] = absent("With has_aux: the other outputs.")


class ValueAndGradResponse(BaseModel):
    value: Tensor | list[Tensor] = Field(description="The network's output (a list of every "
                                         "output, aux included, when it has several).")
    gradients: Tensor | list[Any] = _MS_GRADIENTS
