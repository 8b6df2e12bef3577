"""Exported ONNX models' gradients over HTTP vs onnxruntime's forward alone (ratios).

The models are the torch exports committed under tests/onnxio/models (an MLP and a CNN,
TorchScript exporter, opset 13) with their recorded feeds and cotangents. Ours: POST
/gradients seeded with the cotangent, to every input and weight, on a real server with
one worker, the model either sent inline as {"onnx": base64} (cached by content in the
worker after the first request, but sent, decoded and hashed each time) or registered
(``--model-repository``, named by ``"model"``); and the same gradient in process
(``engine.compute_gradients`` on the imported graph: the engine alone, no HTTP). The
peer: one onnxruntime InferenceSession.run of the forward only, in process, one thread.
The four are timed in interleaved rounds. ``python -m bench.onnx_bench`` prints the rows
as a Markdown table.
"""
from __future__ import annotations

import base64
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

import onnxio
from engine import Graph, compute_gradients

from . import servers

LOG_DIR = Path(__file__).resolve().parent / ".peers" / "logs"

MODELS = Path(__file__).resolve().parents[1] / "tests" / "onnxio" / "models"
CASES = ("mlp_ts13", "cnn_ts13")


def _median_s(f, budget_s: float) -> float:
    times, end = [], time.perf_counter() + budget_s
    while time.perf_counter() < end or len(times) < 20:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


ROUNDS = 3  # the four timings interleaved, each a median per round; the median of rounds


def rows(url: str, budget_s: float = 2.0) -> list[dict[str, object]]:
    import onnxruntime as ort

    out = []
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    with httpx.Client(base_url=url, timeout=60) as client:
        for name in CASES:
            data = (MODELS / f"{name}.onnx").read_bytes()
            npz = np.load(MODELS / f"{name}.npz")
            x, g = npz["feed/x"], npz["cotangent/y"]
            xs = ["x", *(k[len("grad/"):] for k in npz.files
                         if k.startswith("grad/") and k != "grad/x")]
            rest = {"feeds": {"x": {"dtype": "float32", "shape": list(x.shape),
                                    "b64": base64.b64encode(x.tobytes()).decode()}},
                    "ys": "y", "xs": xs, "grad_ys": [g.tolist()], "encoding": "base64"}
            inline = {"graph": {"onnx": base64.b64encode(data).decode()}, **rest}
            named = {"model": name, **rest}

            def post(body: dict[str, object]) -> None:
                r = client.post("/gradients", json=body)
                assert r.status_code == 200, r.text

            graph = Graph.from_description(onnxio.to_description(data))
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            feed = {session.get_inputs()[0].name: x}
            timed = {"inline": lambda: post(inline), "registered": lambda: post(named),
                     "engine": lambda: compute_gradients(graph, {"x": x}, ["y"], xs,
                                                         grad_ys=[g]),
                     "ort": lambda: session.run(None, feed)}
            for f in timed.values():
                f()  # first calls: onnxio imported, graphs built and planned
            rounds: dict[str, list[float]] = {k: [] for k in timed}
            for _ in range(ROUNDS):
                for key, f in timed.items():
                    rounds[key].append(_median_s(f, budget_s / ROUNDS))
            t = {k: float(np.median(v)) for k, v in rounds.items()}
            out.append({"model": name, "inline ONNX over HTTP (ms)": t["inline"] * 1e3,
                        "registered over HTTP (ms)": t["registered"] * 1e3,
                        "in process (ms)": t["engine"] * 1e3,
                        "onnxruntime forward (ms)": t["ort"] * 1e3,
                        "inline / ort": t["inline"] / t["ort"],
                        "registered / ort": t["registered"] / t["ort"],
                        "in process / ort": t["engine"] / t["ort"]})
    return out


def table(found: list[dict[str, object]]) -> str:
    head = list(found[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in found:
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                       for v in row.values()) + " |")
    return "\n".join(lines)


def section(budget_s: float = 2.0) -> str:
    """The Markdown section RESULTS.md gets: a one-worker server started for it."""
    port = servers.free_port()
    with tempfile.TemporaryDirectory(prefix="gradserve-onnx-bench-") as repository:
        for name in CASES:
            (Path(repository) / name).mkdir()
            shutil.copy(MODELS / f"{name}.onnx", Path(repository) / name / "model.onnx")
        argv = [sys.executable, "-m", "service", "--port", str(port), "--workers", "1",
                "--model-repository", repository]
        with servers.start("gradserve onnx", argv, port, "/readyz", LOG_DIR) as server:
            found = rows(server.base, budget_s)
    return ("## ONNX gradients over HTTP vs onnxruntime's forward\n\n" + __doc__.split(
        "\n\n")[1].replace("\n", " ") + "\n\n" + table(found) + "\n")


def main() -> None:
    print(section())


if __name__ == "__main__":
    main()
