"""Registered models: the repository on disk, each file kind's loader, the parent's registry.

A model is a graph description under a name (``DIR/NAME/graph.json``, ``DIR/NAME/model.onnx``
or a ``PUT /models/NAME``). The parent process loads and judges each one once (a model that
does not build is refused, naming its file), keeps the descriptions in a ``Registry`` and
ships them to the workers, which build each model once and keep it pinned (``ModelGraphs``
in ``graph_cache.py``). A file kind is one loader, ``bytes -> description``: adding a kind
is one entry of ``LOADERS``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from engine import EngineError, Graph
from engine.graph import format_ref

from .graph_cache import build_graph

Description = dict[str, Any]


class ModelError(ValueError):
    """A model that does not load: ``loc`` is a path inside its file (an EngineError's)."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = (), node: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.node = node


def _graph_json(data: bytes) -> Description:
    try:
        description = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ModelError(f"not valid JSON: {exc}") from None
    if not isinstance(description, dict):
        raise ModelError("a model's graph.json is a graph object with nodes, inputs, outputs")
    for key in ("inputs", "outputs"):
        if key not in description:
            raise ModelError(f"a model's graph names its {key!r}", (key,))
    return description


def _onnx(data: bytes) -> Description:
    try:
        import onnxio
    except ImportError:
        raise ModelError("ONNX models need the onnxio package, which is not installed") from None
    try:
        return onnxio.to_description(data)
    except onnxio.OnnxError as exc:
        raise ModelError(str(exc), node=exc.node) from None


# file name in DIR/NAME/ -> its loader; the name is also the model's "source"
LOADERS: dict[str, Callable[[bytes], Description]] = {
    "graph.json": _graph_json,
    "model.onnx": _onnx,
}
MEDIA_TYPES = {"application/json": "graph.json", "application/onnx": "model.onnx",
               "application/octet-stream": "model.onnx"}


def _tensor(name: str, graph: Graph) -> dict[str, Any]:
    spec = graph.spec(graph.resolve(name))
    return {"name": name, "shape": list(spec.shape), "dtype": spec.dtype}


@dataclass(frozen=True)
class Model:
    """A judged model: its description (what workers build) and what GET /models shows."""

    name: str
    version: str  # the content hash of its source bytes
    source: str  # a key of LOADERS
    description: Description
    inputs: tuple[dict[str, Any], ...]
    outputs: tuple[dict[str, Any], ...]
    variables: tuple[dict[str, Any], ...]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "inputs": list(self.inputs), "outputs": list(self.outputs),
                "variables": list(self.variables)}


def load_model(name: str, source: str, data: bytes, max_nodes: int,
               max_elements: int) -> Model:
    """Read and build one model (raising ``ModelError`` with the path of the fault)."""
    description = LOADERS[source](data)
    try:
        graph = build_graph(description, [], max_nodes, max_elements)
    except EngineError as exc:
        raise ModelError(exc.message, exc.loc, exc.node) from None
    outputs = tuple(_tensor(format_ref(r), graph) for r in graph.outputs)
    return Model(name, hashlib.sha256(data).hexdigest()[:16], source, description,
                 tuple(_tensor(n, graph) for n in graph.inputs), outputs,
                 tuple(_tensor(n.name, graph) for n in graph.nodes
                       if n.op == "variable" and n.trainable))


class RepositoryError(Exception):
    """The repository cannot be served: the message names the file (one line)."""


def load_repository(root: str | Path, max_nodes: int, max_elements: int) -> dict[str, Model]:
    """Every ``root/NAME/<kind>`` as a model, or ``RepositoryError`` naming the first file
    that does not load (two kinds under one name are refused too)."""
    root = Path(root)
    if not root.is_dir():
        raise RepositoryError(f"model repository {root}: not a directory")
    models: dict[str, Model] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        found = [kind for kind in LOADERS if (folder / kind).is_file()]
        if len(found) > 1:
            raise RepositoryError(f"{folder}: one model per folder, found {' and '.join(found)}")
        for kind in found:
            path = folder / kind
            try:
                models[folder.name] = load_model(folder.name, kind, path.read_bytes(),
                                                 max_nodes, max_elements)
            except ModelError as exc:
                where = ".".join(str(p) for p in exc.loc)
                node = f" (node {exc.node!r})" if exc.node else ""
                raise RepositoryError(f"cannot load model {folder.name!r} from {path}: "
                                      f"{exc.message}{node}{f' at {where}' if where else ''}"
                                      ) from None
            except OSError as exc:
                raise RepositoryError(f"cannot read {path}: {exc.strerror}") from None
    return models


# what the parent ships to a worker: names to (version, description) to build; names to drop
Update = tuple[dict[str, tuple[str, Description]], list[str]]


class Registry:
    """The parent's models. Every change bumps ``generation``; the pool brings a worker up
    to date (``update_for``) before it hands it the next job, so a request sent after a
    PUT or DELETE has answered sees it, in every worker."""

    def __init__(self, models: Mapping[str, Model] | None = None):
        self._models: dict[str, Model] = dict(models or {})
        self.generation = 0

    def get(self, name: str) -> Model | None:
        return self._models.get(name)

    def all(self) -> list[Model]:
        return [self._models[k] for k in sorted(self._models)]

    def put(self, model: Model) -> bool:
        """Register (or replace) a model; whether it is new."""
        new = model.name not in self._models
        self._models[model.name] = model
        self.generation += 1
        return new

    def delete(self, name: str) -> Model | None:
        model = self._models.pop(name, None)
        if model is not None:
            self.generation += 1
        return model

    def versions(self) -> dict[str, str]:
        return {name: m.version for name, m in self._models.items()}

    def update_for(self, have: Mapping[str, str]) -> Update:
        """What a worker holding ``have`` (name -> version) lacks, and what it should drop."""
        build = {name: (m.version, m.description) for name, m in self._models.items()
                 if have.get(name) != m.version}
        return build, [name for name in have if name not in self._models]
