"""``Client`` and ``AsyncClient``: the service's endpoints as the calls their users know.

Both keep one connection pool (keep-alive), time out, retry 429/503 as the server asks, send
large arrays as base64 and give numpy arrays back. Every method of ``AsyncClient`` is the
same as ``Client``'s, awaited.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from . import tensors
from .graph import Graph, Tensor, graph_of, name_of, names
from .transport import Call, RetryPolicy, outcome, request_args

ENCODINGS = ("base64", "typed")


class NamedArrays(dict):
    """An answer keyed by tensor names; a builder ``Tensor`` works as a key too."""

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(name_of(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(name_of(key))  # type: ignore[arg-type]


def _named(v: Any) -> Any:
    """Nested dicts of arrays (jacobian, hessian) as NamedArrays all the way down."""
    return NamedArrays({k: _named(x) for k, x in v.items()}) if isinstance(v, dict) else v


def onnx_file(path: str | bytes) -> dict[str, str]:
    """An ONNX model file (or its bytes) as the wire's graph: ``{"onnx": base64}``."""
    import base64
    from pathlib import Path
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    return {"onnx": base64.b64encode(data).decode("ascii")}


class _Source:
    """Where a call's graph comes from: a builder Graph, a wire dict (graph or ONNX), or a
    model name; and the dtype a fed name has, where that can be known here."""

    def __init__(self, graph: Any, model: str | None, tensors_seen: Sequence[Any],
                 inputs: Any = None, outputs: Any = None):
        if graph is None and model is None:
            graph = graph_of(*tensors_seen)
            if graph is None:
                raise TypeError("give graph= (a gradserve.Graph, a graph dict or "
                                "onnx_file(path)) or model='NAME'")
        self.graph, self.model = graph, model
        self.inputs, self.outputs = inputs, outputs

    def field(self, key: str, threshold: int) -> dict[str, Any]:
        if self.model is not None:
            return {"model": self.model}
        g = self.graph
        doc = g.to_json(self.inputs, self.outputs, threshold) if isinstance(g, Graph) else g
        return {key: doc}

    def dtype(self, name: str) -> str | None:
        g = self.graph
        if isinstance(g, Graph):
            return g.dtype_of(name)
        if isinstance(g, dict) and isinstance(g.get("nodes"), list):
            node = name.split(":")[0]
            for n in g["nodes"]:
                if n.get("name") == node:
                    value = n.get("value")  # a typed or base64 value names its dtype
                    return n.get("dtype") or (value.get("dtype") if isinstance(
                        value, dict) else None) or (
                        "float32" if n.get("op") in ("placeholder", "variable", "parameter")
                        else None)
        return None

    def network_inputs(self) -> list[str]:
        g = self.graph
        if isinstance(g, Graph):
            ins = g.inputs or [n["name"] for n in g.nodes if n["op"] == "placeholder"]
            return names(ins)
        if isinstance(g, dict) and isinstance(g.get("nodes"), list):
            return g.get("inputs") or [n["name"] for n in g["nodes"]
                                       if n.get("op") == "placeholder"]
        return []


def _list(v: Any) -> bool:
    return isinstance(v, list | tuple)


class _Api:
    """Every endpoint as a method returning ``self._run(call)``: a value for ``Client``,
    an awaitable for ``AsyncClient``."""

    encoding: str
    threshold: int

    def _run(self, call: Call) -> Any:  # pragma: no cover - each client defines it
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------------

    def _tensor(self, src: _Source, name: str | None, value: Any) -> Any:
        if isinstance(value, Tensor):
            return {"node": value.name}
        return tensors.encode(value, src.dtype(name) if name else None, self.threshold)

    def _mapping(self, src: _Source, values: Mapping[Any, Any] | None) -> dict[str, Any]:
        return {name_of(k): self._tensor(src, name_of(k), v) for k, v in (values or {}).items()}

    def _args(self, src: _Source, args: Sequence[Any]) -> list[Any]:
        ins = src.network_inputs()
        return [self._tensor(src, ins[i] if i < len(ins) else None, a)
                for i, a in enumerate(args)]

    def _common(self, body: dict[str, Any], vmap: Any = None, **optional: Any) -> dict[str, Any]:
        """The encoding the client reads, plus the optional fields that were given (a
        field left out keeps the server's default and v1 requests unchanged)."""
        body["encoding"] = self.encoding
        if vmap is not None:
            axes = vmap.get("in_axes", vmap) if isinstance(vmap, Mapping) else vmap
            body["vmap"] = {"in_axes": {name_of(k): v for k, v in dict(axes).items()}}
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    # -- TensorFlow: POST /gradients ------------------------------------------------------

    def gradients(self, ys: Any, xs: Any, grad_ys: Any = None, name: str | None = None,
                  gate_gradients: bool | None = None, aggregation_method: Any = None,
                  stop_gradients: Any = None, unconnected_gradients: Any = None, *,
                  feeds: Mapping[Any, Any] | None = None, graph: Any = None,
                  model: str | None = None, colocate_gradients_with_ops: bool | None = None,
                  vmap: Any = None) -> Any:
        """``tf.gradients``: a list aligned with ``xs`` (None where unconnected). ``grad_ys``
        as TensorFlow takes it: a list aligned with ``ys``, or one tensor for one y; a
        builder Tensor there seeds with that node. The graph is the tensors' own unless
        ``graph=`` or ``model=`` is given."""
        src = _Source(graph, model, [ys, xs, feeds])
        y_names = names(ys)
        body = {**src.field("graph", self.threshold), "ys": y_names, "xs": names(xs),
                "feeds": self._mapping(src, feeds)}
        if grad_ys is not None:
            seeds = list(grad_ys) if _list(grad_ys) else [grad_ys]
            body["grad_ys"] = [None if s is None else self._tensor(src, y, s)
                               for y, s in zip(y_names, seeds, strict=False)] + [
                self._tensor(src, None, s) for s in seeds[len(y_names):]]
        if stop_gradients is not None:
            body["stop_gradients"] = names(stop_gradients)
        unconnected = getattr(unconnected_gradients, "value", unconnected_gradients)
        return self._run(Call("POST", "/gradients", self._common(
            body, vmap, unconnected_gradients=unconnected, name=name,
            aggregation_method=getattr(aggregation_method, "value", aggregation_method),
            gate_gradients=gate_gradients,
            colocate_gradients_with_ops=colocate_gradients_with_ops),
            lambda doc: doc["gradients"]))

    # -- MindSpore: POST /grad-operation, /grad, /value-and-grad ----------------------------

    def grad_operation(self, net: Any = None, get_all: bool = False, get_by_list: bool = False,
                       sens_param: bool = False, *, weights: Any = None, model: str | None = None,
                       feeds: Mapping[Any, Any] | None = None, vmap: Any = None) -> Any:
        """``GradOperation(get_all, get_by_list, sens_param)(net, weights)``: call the result
        with the network's inputs (and, with ``sens_param``, the sens last)."""
        src = _Source(net, model, [feeds])

        def grad_fn(*args: Any) -> Any:
            sens = None
            if sens_param:
                if not args:
                    raise TypeError("sens_param=True: give the sens as the last argument")
                *args, sens = args  # type: ignore[assignment]
            body = {**src.field("network", self.threshold), "args": self._args(src, args),
                    "get_all": get_all, "get_by_list": get_by_list, "sens_param": sens_param}
            if sens is not None:
                body["sens"] = ([self._tensor(src, None, s) for s in sens] if _list(sens)
                                else self._tensor(src, None, sens))
            if weights is not None:
                body["weights"] = names(weights)
            if feeds:
                body["feeds"] = self._mapping(src, feeds)
            return self._run(Call("POST", "/grad-operation", self._common(body, vmap),
                                  lambda doc: doc["gradients"]))
        return grad_fn

    def _ms2(self, path: str, net: Any, grad_position: Any, weights: Any, has_aux: bool,
             return_ids: bool, model: str | None, feeds: Any, vmap: Any) -> Any:
        src = _Source(net, model, [feeds])
        w = None if weights is None else (
            names(weights) if _list(weights) else name_of(weights))
        value = path == "/value-and-grad"

        def result(doc: dict[str, Any]) -> Any:
            if value:
                return doc["value"], doc["gradients"]
            return (doc["gradients"], doc["aux"]) if has_aux else doc["gradients"]

        def fn(*args: Any) -> Any:
            body = {**src.field("network", self.threshold), "args": self._args(src, args),
                    "grad_position": list(grad_position) if isinstance(grad_position, tuple)
                    else grad_position, "weights": w, "has_aux": has_aux,
                    "return_ids": return_ids}
            if feeds:
                body["feeds"] = self._mapping(src, feeds)
            return self._run(Call("POST", path, self._common(body, vmap), result))
        return fn

    def grad(self, net: Any = None, grad_position: Any = 0, weights: Any = None,
             has_aux: bool = False, return_ids: bool = False, *, model: str | None = None,
             feeds: Mapping[Any, Any] | None = None, vmap: Any = None) -> Any:
        """``mindspore.grad``: a function of the network's inputs giving the gradients
        (``(gradients, aux)`` with ``has_aux``)."""
        return self._ms2("/grad", net, grad_position, weights, has_aux, return_ids, model,
                         feeds, vmap)

    def value_and_grad(self, net: Any = None, grad_position: Any = 0, weights: Any = None,
                       has_aux: bool = False, return_ids: bool = False, *,
                       model: str | None = None, feeds: Mapping[Any, Any] | None = None,
                       vmap: Any = None) -> Any:
        """``mindspore.value_and_grad``: a function giving ``(value, gradients)``."""
        return self._ms2("/value-and-grad", net, grad_position, weights, has_aux, return_ids,
                         model, feeds, vmap)

    # -- JAX-like: section 6 ----------------------------------------------------------------

    def _functional(self, path: str, graph: Any, feeds: Any, inputs: Any, outputs: Any,
                    model: str | None, vmap: Any, dialect: str | None,
                    extra: dict[str, Any], result: Any) -> Any:
        seen = [feeds, inputs, outputs, *extra.values()]
        src = _Source(graph, model, seen)
        body: dict[str, Any] = {**src.field("graph", self.threshold),
                                "feeds": self._mapping(src, feeds)}
        if inputs is not None:
            body["inputs"] = names(inputs)
        if outputs is not None:
            body["outputs"] = names(outputs)
        for key, value in extra.items():
            if isinstance(value, Mapping):
                body[key] = self._mapping(src, value)
            elif value is not None:
                body[key] = value
        return self._run(Call("POST", path, self._common(body, vmap, dialect=dialect), result))

    def evaluate(self, graph: Any = None, feeds: Any = None, *, outputs: Any = None,
                 model: str | None = None, vmap: Any = None, dialect: str | None = None) -> Any:
        """The outputs' values, keyed by name."""
        return self._functional("/evaluate", graph, feeds, None, outputs, model, vmap,
                                dialect, {}, lambda d: _named(d["values"]))

    def jvp(self, graph: Any = None, feeds: Any = None, tangents: Any = None, *,
            inputs: Any = None, outputs: Any = None, batched: bool | None = None,
            model: str | None = None, vmap: Any = None, dialect: str | None = None) -> Any:
        """``jax.jvp``: ``(values, tangents_out)`` (J·v), each keyed by output name."""
        return self._functional("/jvp", graph, feeds, inputs, outputs, model, vmap, dialect,
                                {"tangents": tangents or {}, "batched": batched},
                                lambda d: (_named(d["values"]), _named(d["tangents"])))

    def vjp(self, graph: Any = None, feeds: Any = None, cotangents: Any = None, *,
            inputs: Any = None, outputs: Any = None, batched: bool | None = None,
            model: str | None = None, vmap: Any = None, dialect: str | None = None) -> Any:
        """``(values, cotangents_in)`` (vᵀ·J): what ``jax.vjp``'s function gives, keyed by
        input name."""
        return self._functional("/vjp", graph, feeds, inputs, outputs, model, vmap, dialect,
                                {"cotangents": cotangents or {}, "batched": batched},
                                lambda d: (_named(d["values"]), _named(d["cotangents"])))

    def jacobian(self, graph: Any = None, feeds: Any = None, *, inputs: Any = None,
                 outputs: Any = None, mode: str | None = None, model: str | None = None,
                 vmap: Any = None, dialect: str | None = None) -> Any:
        """``jacobian[out][input]`` of shape ``out.shape + input.shape``; ``mode`` "auto",
        "reverse" (jacrev) or "forward" (jacfwd)."""
        return self._functional("/jacobian", graph, feeds, inputs, outputs, model, vmap,
                                dialect, {"mode": mode}, lambda d: _named(d["jacobian"]))

    def hessian(self, graph: Any = None, feeds: Any = None, *, inputs: Any = None,
                outputs: Any = None, model: str | None = None, vmap: Any = None,
                dialect: str | None = None) -> Any:
        """``hessian[out][input_i][input_j]``."""
        return self._functional("/hessian", graph, feeds, inputs, outputs, model, vmap,
                                dialect, {}, lambda d: _named(d["hessian"]))

    def hvp(self, graph: Any = None, feeds: Any = None, vectors: Any = None, *,
            inputs: Any = None, outputs: Any = None, batched: bool | None = None,
            model: str | None = None, vmap: Any = None, dialect: str | None = None) -> Any:
        """Hessian-vector products of a scalar output in one call, keyed by input name
        (``hvp[i] = Σ_j H_ij · v_j``)."""
        return self._functional("/hvp", graph, feeds, inputs, outputs, model, vmap, dialect,
                                {"vectors": vectors or {}, "batched": batched},
                                lambda d: _named(d["hvp"]))

    # -- models, pictures, operations ------------------------------------------------------

    def list_models(self) -> Any:
        """``GET /models``: each model's name, version, inputs and outputs."""
        return self._run(Call("GET", "/models"))

    def get_model(self, name: str) -> Any:
        return self._run(Call("GET", f"/models/{name}"))

    def render(self, graph: Any = None, ys: Any = None, xs: Any = None, format: str = "svg",
               *, model: str | None = None) -> Any:
        """``POST /render``: the graph as SVG (or DOT text), with the gradient nodes of
        ``ys`` with respect to ``xs`` drawn apart when both are given."""
        src = _Source(graph, model, [ys, xs])
        body: dict[str, Any] = {**src.field("graph", self.threshold), "format": format}
        if ys is not None:
            body["ys"] = names(ys)
        if xs is not None:
            body["xs"] = names(xs)
        return self._run(Call("POST", "/render", body, text=True))

    def ops(self) -> Any:
        """``GET /ops``: the op catalogue."""
        return self._run(Call("GET", "/ops"))

    def health(self) -> Any:
        return self._run(Call("GET", "/healthz"))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """Any endpoint: ``body`` as given (tensors already in wire form), the answer with
        typed and base64 tensors decoded."""
        return self._run(Call("POST", path, body))


class _Connected(_Api):
    """The settings both clients share; ``HTTP`` is httpx's sync or async client."""

    HTTP: Any = httpx.Client

    def __init__(self, url: str = "http://127.0.0.1:8000", *, timeout: float = 60.0,
                 connect_timeout: float = 5.0, retry: RetryPolicy | None = None,
                 encoding: str = "base64", base64_threshold: int = tensors.BASE64_THRESHOLD,
                 transport: Any = None):
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS} (nested answers cannot "
                             "tell a list of tensors from one tensor)")
        self.encoding, self.threshold = encoding, base64_threshold
        self.retry = retry or RetryPolicy()
        self.http = self.HTTP(
            base_url=url.rstrip("/"), timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"user-agent": "gradserve-client/0.1", "accept": "application/json"},
            transport=transport)


class Client(_Connected):
    """A blocking client. Use as a context manager, or call ``close()``. ``transport``
    is an httpx transport (tests script one)."""

    def _run(self, call: Call) -> Any:
        attempt = 0
        while True:
            response = self.http.request(call.method, call.path, **request_args(call))
            wait = self.retry.delay(response, attempt)
            if wait is None:
                return outcome(call, response)
            attempt += 1
            time.sleep(wait)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Connected):
    """The same methods, awaited (``await client.gradients(...)``; the function that
    ``grad_operation`` and ``grad`` return gives an awaitable)."""

    HTTP = httpx.AsyncClient

    async def _run(self, call: Call) -> Any:
        attempt = 0
        while True:
            response = await self.http.request(call.method, call.path, **request_args(call))
            wait = self.retry.delay(response, attempt)
            if wait is None:
                return outcome(call, response)
            attempt += 1
            await asyncio.sleep(wait)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
