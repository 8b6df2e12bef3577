"""Exported ONNX models' gradients over HTTP vs onnxruntime's forward alone (a ratio).

The models are the torch exports committed under tests/onnxio/models (an MLP and a CNN,
TorchScript exporter, opset 13) with their recorded feeds and cotangents. Ours: POST
/gradients with the model as {"onnx": base64} (cached by content in the worker after the
first request) seeded with the cotangent, to every input and weight, on a real server
with one worker; the peer: one onnxruntime InferenceSession.run of the forward only, in
process, one thread. ``python -m bench.onnx_bench`` prints the rows as a Markdown table.
"""
from __future__ import annotations

import base64
import sys
import time
from pathlib import Path

import httpx
import numpy as np

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
            body = {"graph": {"onnx": base64.b64encode(data).decode()},
                    "feeds": {"x": {"dtype": "float32", "shape": list(x.shape),
                                    "b64": base64.b64encode(x.tobytes()).decode()}},
                    "ys": "y", "xs": xs, "grad_ys": [g.tolist()], "encoding": "base64"}

            def ours() -> None:
                r = client.post("/gradients", json=body)
                assert r.status_code == 200, r.text

            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            feed = {session.get_inputs()[0].name: x}
            ours()  # the first request imports onnxio and builds the graph
            t_ours = _median_s(ours, budget_s)
            t_ort = _median_s(lambda: session.run(None, feed), budget_s)
            out.append({"model": name, "gradient over HTTP (ms)": t_ours * 1e3,
                        "onnxruntime forward (ms)": t_ort * 1e3, "ratio": t_ours / t_ort})
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
    argv = [sys.executable, "-m", "service", "--port", str(port), "--workers", "1"]
    with servers.start("gradserve onnx", argv, port, "/readyz", LOG_DIR) as server:
        found = rows(server.base, budget_s)
    return ("## ONNX gradients over HTTP vs onnxruntime's forward\n\n" + __doc__.split(
        "\n\n")[1].replace("\n", " ") + "\n\n" + table(found) + "\n")


def main() -> None:
    print(section())


if __name__ == "__main__":
    main()
