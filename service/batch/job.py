"""The Ray Data pipeline: read feed sets, ``map_batches`` over actors holding a warm
engine (one vectorized pass per batch), stream the per-example gradients back in order
to one ``.npz`` or one Parquet file.

Each actor builds the graph once and keeps the engine's plan cache warm across batches;
``--workers`` actors run at once (``ActorPoolStrategy``). ``ray.init(address)`` joins the
cluster at ``--address`` (or starts a local one); against a remote cluster this package is
shipped to the workers with the job (``runtime_env`` py_modules), and the dataset path must
be one the workers can read (shared storage, s3://...), as always with Ray Data.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import Settings
from .examples import (
    BatchError,
    axis_batch,
    axis_length,
    build_graph,
    jsonl_examples,
    per_example_gradients,
    row_examples,
    stack,
)

ID = "__example__"


@dataclass
class JobSpec:
    """Everything one job needs; plain data, so it travels to the actors."""

    graph: dict[str, Any]
    ys: list[str]
    xs: list[str]
    feeds: str
    axis: int = 0
    batch_size: int = 1024
    workers: int = 1
    max_elements: int = field(default_factory=lambda: Settings(workers=1).max_elements)

    @property
    def kind(self) -> str:
        suffix = Path(self.feeds).suffix.lower()
        if suffix in (".jsonl", ".ndjson", ".json"):
            return "jsonl"
        if suffix in (".parquet", ".pq") or Path(self.feeds).is_dir():
            return "parquet"
        if suffix == ".npz":
            return "npz"
        raise BatchError(f"{self.feeds}: expected .jsonl, .parquet (or a directory of them) "
                         "or .npz")


class GradientActor:
    """One Ray actor: a built graph and a warm engine, per-example gradients per batch."""

    def __init__(self, spec: JobSpec, arrays: Any = None):
        self.spec = spec
        self.graph = build_graph(spec.graph, Settings(workers=1,
                                                      max_elements=spec.max_elements))
        if arrays is not None:  # the .npz's arrays, from the object store (zero-copy)
            import ray

            arrays = ray.get(arrays)
        self.arrays: dict[str, np.ndarray] = arrays or {}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        spec = self.spec
        if spec.kind == "npz":
            ids = batch[ID]
            feeds = axis_batch(self.graph, self.arrays, ids, spec.axis)
        elif spec.kind == "jsonl":
            ids = None
            feeds = stack(jsonl_examples(self.graph, batch["text"], spec.max_elements))
        else:
            ids = None
            feeds = stack(row_examples(self.graph, batch, spec.max_elements))
        out = per_example_gradients(self.graph, feeds, spec.ys, spec.xs)
        if ids is not None:
            out[ID] = np.asarray(ids)
        return out


def dataset(spec: JobSpec) -> Any:
    """The Ray Dataset of per-example gradients (lazy; consumed by ``write``)."""
    import ray
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # row i of the output is example i
    arrays = None
    if spec.kind == "npz":
        with np.load(spec.feeds) as npz:
            loaded = {k: npz[k] for k in npz.files}
        n = axis_length(loaded, spec.axis)
        arrays = ray.put(loaded)
        source = ray.data.range(n).rename_columns({"id": ID})
    elif spec.kind == "jsonl":
        source = ray.data.read_text(spec.feeds)
    else:
        source = ray.data.read_parquet(spec.feeds)
    return source.map_batches(
        GradientActor, batch_size=spec.batch_size, batch_format="numpy",
        fn_constructor_kwargs={"spec": spec, "arrays": arrays},
        compute=ray.data.ActorPoolStrategy(size=spec.workers), num_cpus=1)


def write(ds: Any, spec: JobSpec, out: str) -> int:
    """Gradients to ``out``: one ``.npz`` (arrays named by x, stacked over examples), or a
    directory holding one Parquet file (a column per x, a row per example). Returns the
    count.

    Both stream through the driver in the feeds' order: ``preserve_order`` holds for
    iteration, while ``write_parquet``'s tasks may combine blocks out of order (row 16
    came back as another example's), and counting after it ran the whole job twice."""
    batches = ds.iter_batches(batch_format="numpy", batch_size=None)
    if out.endswith(".npz"):
        parts: dict[str, list[np.ndarray]] = {x: [] for x in spec.xs}
        for batch in batches:
            for x in spec.xs:
                parts[x].append(batch[x])
        stacked = {x: np.concatenate(v) if v else np.zeros((0,)) for x, v in parts.items()}
        np.savez(out, **stacked)
        return len(next(iter(stacked.values()))) if stacked else 0
    return _write_parquet(batches, spec.xs, out)


def _write_parquet(batches: Iterable[dict[str, np.ndarray]], xs: list[str], out: str) -> int:
    """``out/gradients.parquet``, a row group per batch; ``out`` may be a URI (s3://...)."""
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    if "://" in out:
        fs, root = pafs.FileSystem.from_uri(out)
    else:
        fs, root = pafs.LocalFileSystem(), str(Path(out).resolve())
    fs.create_dir(root, recursive=True)
    writer, n = None, 0
    try:
        for batch in batches:
            table = pa.table({x: _tensor_column(batch[x]) for x in xs})
            if writer is None:
                writer = pq.ParquetWriter(f"{root}/gradients.parquet", table.schema,
                                          filesystem=fs)
            writer.write_table(table)
            n += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return n


def _tensor_column(values: np.ndarray) -> Any:
    """Per-example tensors ``[n, *shape]`` as nested fixed-size lists (plain Parquet that
    pandas, Spark and pyarrow read back as the tensors), built on the flat buffer."""
    import pyarrow as pa

    column = pa.array(np.ascontiguousarray(values).reshape(-1))
    for size in reversed(values.shape[1:]):
        column = pa.FixedSizeListArray.from_arrays(column, size)
    return column


def init(address: str | None, workers: int = 1) -> None:
    """Join the cluster at ``address``, or start a local one with room for ``workers``
    actors (one CPU each) and the reading tasks that feed them; ship our code to a remote
    cluster's workers."""
    import ray

    import engine
    import service

    from ..container import cpu_count

    runtime_env, cpus = None, None
    if address is None:  # a local cluster: a read task must not wait for an actor's CPU
        cpus = max(cpu_count(), workers + 1)
    else:
        runtime_env = {"py_modules": [str(Path(engine.__file__).parent),
                                      str(Path(service.__file__).parent)]}
    ray.init(address=address, num_cpus=cpus, runtime_env=runtime_env,
             ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
