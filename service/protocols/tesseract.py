"""Each registered model as a Tesseract (pasteurlabs/tesseract-core 1.x runtime protocol,
API.md section 8), so that ``Tesseract.from_url(".../models/NAME")`` works unchanged.

A model's Tesseract inputs are its placeholders (required) and trainable variables
(optional: their stored value); its outputs are its outputs. Each endpoint is one engine
call (``evaluate``, ``jacobian``, ``jvp``, ``vjp``, or the graph specialized to shapes
for ``abstract_eval``), run in a worker like every computation: the parent only reads
the body and picks the answer's array encoding from ``Accept`` (``negotiate``), and the
worker gets the job as ``tesseract:ENDPOINT:FORMAT:MODEL`` (``tag``).

Arrays travel as Tesseract's ``{"object_type": "array", "shape", "dtype", "data":
{"buffer", "encoding"}}`` (``json``, ``raw`` or ``base64`` in requests, plain numbers
and nested lists too; ``json`` or ``base64`` in answers). A request the model cannot
take is a 422 in the runtime's own shape, ``{"detail": [{"type", "loc", "msg"}]}``,
which tesseract-core's client raises as a pydantic ValidationError naming the field.
"""
from __future__ import annotations

import binascii
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pybase64
from pydantic import BaseModel, ConfigDict, ValidationError

import engine
from engine import EngineError, Graph
from engine.api import for_feeds
from engine.dtypes import is_floating
from engine.graph import format_ref

from ..codec import TensorError, decode
from ..problems import PROBLEM_JSON, ProblemError, problem_body
from ..reply import Reply

ENDPOINTS = ("apply", "jacobian", "jacobian_vector_product", "vector_jacobian_product",
             "abstract_eval")
FORMATS = ("json", "json+base64")  # answers' array encodings (no json+binref: no files)
DEFAULT_FORMAT = "json"
KIND = "tesseract"  # a Tesseract job's tag: tesseract:<endpoint>:<format>:<model>
PREFIX = f"{KIND}:"
_DTYPES = ("float16", "float32", "float64", "int32", "int64", "bool")

Loc = list[str | int]


class Fault(Exception):
    """A request the model cannot take: one entry of the runtime's 422 ``detail``."""

    def __init__(self, loc: Loc, msg: str, kind: str = "value_error"):
        super().__init__(msg)
        self.loc, self.msg, self.kind = loc, msg, kind


# -- the parent's part: the job's tag, the Accept header ------------------------------------

def tag(endpoint: str, output_format: str, model: str) -> str:
    return f"{PREFIX}{endpoint}:{output_format}:{model}"


def negotiate(accept: str | None) -> str:
    """The answer's format from ``Accept`` as the runtime reads it: media ranges by q, the
    first whose format, ``gpu_transport`` and ``compression`` we produce; ``*/*`` and
    ``application/*`` are our default (json). 406 when none fits."""
    if not accept:
        return DEFAULT_FORMAT
    ranges = []
    for i, part in enumerate(p for p in accept.split(",") if p.strip()):
        media, *params = part.split(";")
        args = {}
        for param in params:
            key, _, value = param.partition("=")
            args[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(args.get("q", 1.0))
        except ValueError:
            q = 0.0
        ranges.append((-q, i, media.strip().lower(), args))
    for _, _, media, args in sorted(ranges):
        fmt = DEFAULT_FORMAT if media in ("*/*", "application/*") else media.rpartition("/")[2]
        if (fmt in FORMATS and args.get("gpu_transport", "none") == "none"
                and args.get("compression", "none") == "none"):
            return fmt
    raise ProblemError("not-acceptable", f"cannot answer any of Accept: {accept!r}; formats "
                       f"{', '.join('application/' + f for f in FORMATS)}, gpu_transport "
                       "none, compression none")


# -- the worker's part --------------------------------------------------------------------

class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: dict[str, Any]


class _Jacobian(_Body):
    jac_inputs: list[str]
    jac_outputs: list[str]


class _Jvp(_Body):
    jvp_inputs: list[str]
    jvp_outputs: list[str]
    tangent_vector: dict[str, Any]


class _Vjp(_Body):
    vjp_inputs: list[str]
    vjp_outputs: list[str]
    cotangent_vector: dict[str, Any]


class Signature:
    """A model's Tesseract signature: input and output names with their specs."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.required = list(graph.inputs)
        self.optional = [n.name for n in graph.nodes if n.op == "variable" and n.trainable]
        self.outputs = [format_ref(r) for r in graph.outputs]

    def spec(self, name: str) -> Any:
        return self.graph.spec(self.graph.resolve(name))


def handle(graphs: Callable[[str], Graph | None], max_elements: int, job: str,
           body: bytes | memoryview) -> Reply:
    """One Tesseract job (``tag``) for the model it names; never raises."""
    endpoint, output_format, name = job[len(PREFIX):].split(":", 2)
    try:
        graph = graphs(name)
        if graph is None:  # deleted between the parent's look-up and this job
            raise ProblemError("not-found", f"no model named {name!r} is registered")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Fault(["body"], f"the body is not valid JSON: {exc}", "json_invalid"
                        ) from None
        answer = _COMPUTE[endpoint](Signature(graph), doc, max_elements)
        return Reply(200, orjson.dumps(_encode(answer, output_format)),
                     f"application/{output_format}")
    except Fault as f:
        return _unprocessable([f])
    except ProblemError as exc:
        return Reply(exc.status, exc.body(), PROBLEM_JSON)
    except MemoryError:
        return Reply(503, problem_body("unavailable", "the computation ran out of memory"),
                     PROBLEM_JSON)


def _unprocessable(faults: Sequence[Fault]) -> Reply:
    detail = [{"type": f.kind, "loc": f.loc, "msg": f.msg} for f in faults]
    return Reply(422, orjson.dumps({"detail": detail}))


def _parse(model: type[_Body], doc: Any) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise Fault(["body", *first["loc"]], first["msg"], first["type"]) from None


def _feeds(sig: Signature, raw: Mapping[str, Any], max_elements: int) -> dict[str, np.ndarray]:
    for name in raw:
        if name not in sig.required and name not in sig.optional:
            raise Fault(["body", "inputs", name], f"{name!r} is not an input of this model "
                        f"(inputs: {', '.join(sig.required + sig.optional)})", "extra_forbidden")
    for name in sig.required:
        if name not in raw:
            raise Fault(["body", "inputs", name], "Field required", "missing")
    return {name: decode_array(value, sig.spec(name).dtype, max_elements,
                               ["body", "inputs", name]) for name, value in raw.items()}


def _keyed(sig: Signature, raw: Mapping[str, Any], field: str, names: Sequence[str],
           max_elements: int) -> dict[str, np.ndarray]:
    out = {}
    for name, value in raw.items():
        if name not in names:
            raise Fault(["body", field, name], f"{name!r} is not one of {list(names)}")
        out[name] = decode_array(value, sig.spec(name).dtype, max_elements,
                                 ["body", field, name])
    return out


def _checked(sig: Signature, names: Sequence[str], field: str, pool: Sequence[str]) -> None:
    for i, name in enumerate(names):
        if name not in pool:
            raise Fault(["body", field, i], f"{name!r} is not one of {list(pool)}")


def _engine(field_of: Mapping[str, str], call: Callable[[], Any]) -> Any:
    """An engine call, its refusal as a Fault at the Tesseract field it names."""
    try:
        return call()
    except EngineError as exc:
        arg, rest = (exc.loc[0], list(exc.loc[1:])) if exc.loc else ("inputs", [])
        raise Fault(["body", field_of.get(str(arg), "inputs"), *rest], exc.message) from None


def apply(sig: Signature, doc: Any, max_elements: int) -> Any:
    body = _parse(_Body, doc)
    feeds = _feeds(sig, body.inputs, max_elements)
    out = _engine({}, lambda: engine.evaluate(sig.graph, feeds, sig.outputs))
    return out["values"]


def jacobian(sig: Signature, doc: Any, max_elements: int) -> Any:
    body = _parse(_Jacobian, doc)
    feeds = _feeds(sig, body.inputs, max_elements)
    _checked(sig, body.jac_inputs, "jac_inputs", sig.required + sig.optional)
    _checked(sig, body.jac_outputs, "jac_outputs", sig.outputs)
    out = _engine({"inputs": "jac_inputs", "outputs": "jac_outputs"}, lambda: engine.jacobian(
        sig.graph, feeds, inputs=body.jac_inputs, outputs=body.jac_outputs))
    return out["jacobian"]


def _product(sig: Signature, doc: Any, max_elements: int, kind: str) -> Any:
    """jvp (tangents on inputs, answers by output) or vjp (cotangents on outputs, answers
    by input): one engine call, with the Tesseract fields named by ``kind``."""
    forward = kind == "jvp"
    body = _parse(_Jvp if forward else _Vjp, doc)
    feeds = _feeds(sig, body.inputs, max_elements)
    ins, outs = getattr(body, f"{kind}_inputs"), getattr(body, f"{kind}_outputs")
    _checked(sig, ins, f"{kind}_inputs", sig.required + sig.optional)
    _checked(sig, outs, f"{kind}_outputs", sig.outputs)
    field = "tangent_vector" if forward else "cotangent_vector"
    seeds = _keyed(sig, getattr(body, field), field, ins if forward else outs, max_elements)
    compute, answer = (engine.jvp, "tangents") if forward else (engine.vjp, "cotangents")
    out = _engine({"inputs": f"{kind}_inputs", "outputs": f"{kind}_outputs", answer: field},
                  lambda: compute(sig.graph, feeds, seeds, inputs=ins, outputs=outs))
    return out[answer]


def jacobian_vector_product(sig: Signature, doc: Any, max_elements: int) -> Any:
    return _product(sig, doc, max_elements, "jvp")


def vector_jacobian_product(sig: Signature, doc: Any, max_elements: int) -> Any:
    return _product(sig, doc, max_elements, "vjp")


def abstract_eval(sig: Signature, doc: Any, max_elements: int) -> Any:
    """Each output's shape and dtype from the inputs' (``{"shape", "dtype"}``, extra keys
    ignored as the runtime's ShapeDType does): the graph specialized, nothing computed."""
    body = _parse(_Body, doc)
    for name in body.inputs:
        if name not in sig.required and name not in sig.optional:
            raise Fault(["body", "inputs", name], f"{name!r} is not an input of this model",
                        "extra_forbidden")
    stand_ins = {}
    for name in sig.required:
        if name not in body.inputs:
            raise Fault(["body", "inputs", name], "Field required", "missing")
    for name, value in body.inputs.items():
        loc: Loc = ["body", "inputs", name]
        if not isinstance(value, dict) or not _is_shape(value.get("shape")):
            raise Fault([*loc, "shape"], "a shape (a list of non-negative ints) is required")
        dtype = value.get("dtype", sig.spec(name).dtype)
        if dtype not in _DTYPES:
            raise Fault([*loc, "dtype"], f"dtype must be one of {', '.join(_DTYPES)}")
        stand_ins[name] = np.broadcast_to(np.zeros((), dtype=dtype), value["shape"])
    graph = _engine({"feeds": "inputs"}, lambda: for_feeds(sig.graph, stand_ins, max_elements))
    return {name: {"shape": list(graph.spec(graph.resolve(name)).shape),
                   "dtype": graph.spec(graph.resolve(name)).dtype} for name in sig.outputs}


_COMPUTE: dict[str, Callable[[Signature, Any, int], Any]] = {
    "apply": apply, "jacobian": jacobian, "jacobian_vector_product": jacobian_vector_product,
    "vector_jacobian_product": vector_jacobian_product, "abstract_eval": abstract_eval}


# -- arrays -----------------------------------------------------------------------------------

def _is_shape(v: Any) -> bool:
    return isinstance(v, list) and all(type(d) is int and d >= 0 for d in v)


def decode_array(value: Any, dtype: str, max_elements: int, loc: Loc) -> np.ndarray:
    """A Tesseract array (encoded, or a number / nested lists) as ``dtype``: cast as the
    runtime casts (within a kind), the element count checked before anything is made."""
    if not isinstance(value, dict):
        try:
            return decode(value, dtype, max_elements)
        except TensorError as exc:
            raise Fault([*loc, *exc.loc], exc.message) from None
    extra = set(value) - {"object_type", "shape", "dtype", "data"}
    if extra or value.get("object_type", "array") != "array":
        raise Fault(loc, "an array is {object_type: 'array', shape, dtype, data}")
    shape, src, data = value.get("shape"), value.get("dtype"), value.get("data")
    if not _is_shape(shape):
        raise Fault([*loc, "shape"], "a list of non-negative ints is required")
    if src not in _DTYPES:
        raise Fault([*loc, "dtype"], f"dtype must be one of {', '.join(_DTYPES)}")
    n = math.prod(shape)
    if n > max_elements:
        raise Fault([*loc, "shape"], f"an array of shape {shape} has {n} elements; the limit "
                    f"is {max_elements} per array", "too_large")
    if not isinstance(data, dict) or data.get("compression") is not None:
        raise Fault([*loc, "data"], "data is {buffer, encoding} (no compression)")
    encoding, buffer = data.get("encoding"), data.get("buffer")
    try:
        if encoding == "base64" and isinstance(buffer, str):
            want = n * np.dtype(src).itemsize
            if len(buffer) > 4 * (want // 3 + 1) + 4:
                raise ValueError(f"the buffer holds more than the {want} bytes of {shape}")
            raw = pybase64.b64decode(buffer, validate=True)
            arr = np.frombuffer(raw, dtype=np.dtype(src).newbyteorder("<")).reshape(shape)
        elif encoding in ("json", "raw"):
            arr = np.asarray(buffer, dtype=src).reshape(shape)
        else:
            raise ValueError(f"encoding {encoding!r} is not taken (json, raw, base64)")
    except (ValueError, TypeError, binascii.Error) as exc:
        raise Fault([*loc, "data"], f"the buffer does not decode: {exc}") from None
    if not np.can_cast(src, dtype, casting="same_kind"):
        raise Fault([*loc, "dtype"], f"{src} does not cast to the input's {dtype}")
    return arr.astype(dtype)


def _encode(tree: Any, output_format: str) -> Any:
    if isinstance(tree, dict):
        return {k: _encode(v, output_format) for k, v in tree.items()}
    if not isinstance(tree, np.ndarray):
        return tree
    arr = np.ascontiguousarray(tree)
    data = ({"buffer": pybase64.b64encode(arr.astype(arr.dtype.newbyteorder("<")).tobytes()
                                          ).decode(), "encoding": "base64"}
            if output_format == "json+base64" else {"buffer": arr.tolist(), "encoding": "json"})
    return {"object_type": "array", "shape": list(arr.shape), "dtype": arr.dtype.name,
            "data": data}


# -- the model's own OpenAPI description (what tesseract-core's client reads) ---------------

def describe(name: str, inputs: Sequence[Mapping[str, Any]],
             variables: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]
             ) -> dict[str, Any]:
    """``/models/NAME/openapi.json``: the endpoints (the client lists ``paths``), the
    schemas of inputs and outputs, and the encodings ``Accept`` may ask for (the
    ``x-supported-*`` keys the client checks its requests against)."""
    def array(t: Mapping[str, Any]) -> dict[str, Any]:
        rank = len(t["shape"])
        return {"type": "object", "title": t["name"], "array_flags":
                ["differentiable"] if is_floating(t["dtype"]) else [],
                "description": f"{t['dtype']} array of shape "
                f"{['None' if d is None else d for d in t['shape']]}",
                "properties": {"object_type": {"const": "array"},
                               "shape": {"type": "array", "items": {"type": "integer"},
                                         "minItems": rank, "maxItems": rank},
                               "dtype": {"type": "string"},
                               "data": {"type": "object"}},
                "required": ["shape", "dtype", "data"]}

    def obj(props: Mapping[str, Any], required: Sequence[str]) -> dict[str, Any]:
        return {"type": "object", "properties": dict(props), "required": list(required),
                "additionalProperties": False}

    ref = "#/components/schemas/{}".format
    names = [t["name"] for t in (*inputs, *variables)]
    schemas: dict[str, Any] = {
        "InputSchema": obj({t["name"]: array(t) for t in (*inputs, *variables)},
                           [t["name"] for t in inputs]),
        "OutputSchema": obj({t["name"]: array(t) for t in outputs},
                            [t["name"] for t in outputs]),
        "ShapeDType": obj({"shape": {"type": "array", "items": {"type": "integer"}},
                           "dtype": {"type": "string"}}, ["shape", "dtype"]),
    }
    names_of = {"type": "array", "items": {"type": "string", "enum": names}}
    outs_of = {"type": "array", "items": {"type": "string", "enum": [t["name"] for t in
                                                                     outputs]}}
    bodies = {
        "apply": {"inputs": {"$ref": ref("InputSchema")}},
        "jacobian": {"inputs": {"$ref": ref("InputSchema")}, "jac_inputs": names_of,
                     "jac_outputs": outs_of},
        "jacobian_vector_product": {"inputs": {"$ref": ref("InputSchema")},
                                    "jvp_inputs": names_of, "jvp_outputs": outs_of,
                                    "tangent_vector": {"type": "object"}},
        "vector_jacobian_product": {"inputs": {"$ref": ref("InputSchema")},
                                    "vjp_inputs": names_of, "vjp_outputs": outs_of,
                                    "cotangent_vector": {"type": "object"}},
        "abstract_eval": {"inputs": {"type": "object", "additionalProperties":
                                     {"$ref": ref("ShapeDType")}}},
    }
    paths: dict[str, Any] = {}
    for endpoint, props in bodies.items():
        title = endpoint.title().replace("_", "")
        schemas[f"{title}_InputSchema"] = obj(props, list(props))
        paths[f"/{endpoint}"] = {"post": {
            "operationId": endpoint, "summary": f"{endpoint} of model {name}",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": ref(f"{title}_InputSchema")}}}},
            "responses": {"200": {"description": "The answer; arrays encoded as Accept "
                                  "asks.", "content": {f"application/{f}": {"schema": {
                                      "type": "object"}} for f in FORMATS}},
                          "422": {"description": "The request does not fit the model."}}}}
    paths["/health"] = {"get": {"operationId": "health", "summary": "Health",
                                "responses": {"200": {"description": "{status: ok}"}}}}
    return {"openapi": "3.1.0", "info": {"title": name, "version": "1.0",
                                         "description": f"Gradserve model {name!r} as a "
                                         "Tesseract"},
            "paths": paths, "components": {"schemas": schemas},
            "x-supported-output-formats": list(FORMATS),
            "x-supported-gpu-transports": ["none"], "x-supported-compressions": ["none"]}
