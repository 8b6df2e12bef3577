"""TensorFlow's column of the RNN row (``bench/rnn_bench.py``): ``tf.function`` of a
``tf.GradientTape`` over ``tf.while_loop``, graph mode.

TensorFlow is rarely installed beside the service (its wheel is ~570 MB and wants its own
numpy), so the row can run it in another interpreter: ``GRADSERVE_TF_PYTHON=/path/python``
runs ``python -m bench.rnn_tf STEPS BUDGET`` there, which times the call alone in its own
process and prints JSON (gradients, median, p90, first call). This module imports only
numpy, TensorFlow and the peer scenario, so that interpreter needs nothing of ours.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ORDER = ("h0", "W", "U", "b", "xs")
ENV = "GRADSERVE_TF_PYTHON"


def tensorflow_grads(feeds: dict[str, np.ndarray], target: np.ndarray) -> Callable[[], Any]:
    import tensorflow as tf

    args = [tf.constant(feeds[k]) for k in ORDER]

    @tf.function
    def grads(h0: Any, w: Any, u: Any, b: Any, xs: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch([h0, w, u, b, xs])
            h = tf.while_loop(lambda t, h: t < xs.shape[0],
                              lambda t, h: (t + 1, tf.tanh(h @ w + xs[t] @ u + b)),
                              (tf.constant(0), h0))[1]
            loss = tf.reduce_sum((h - target) ** 2)
        return tape.gradient(loss, [h0, w, u, b, xs])

    return lambda: [g.numpy() for g in grads(*args)]


def in_subprocess(python: str, steps: int, budget_s: float | None) -> dict[str, Any]:
    """The worker's JSON answer from ``python`` (raises with its stderr tail on failure)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([python, "-m", "bench.rnn_tf", str(steps), str(budget_s or 0)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"{python} -m bench.rnn_tf: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(steps: int, budget_s: float) -> None:
    import tensorflow as tf

    from bench.timing import first_call, measure
    from tests.peers.scenarios_cf import _rnn

    nodes, feeds = _rnn(steps=steps)
    target = np.asarray(next(n for n in nodes if n["name"] == "target")["value"])
    fn = tensorflow_grads({k: np.asarray(v, np.float64) for k, v in feeds.items()}, target)
    out: dict[str, Any] = {"version": tf.__version__, "compile_s": first_call(fn),
                           "grads": [g.tolist() for g in fn()]}
    if budget_s > 0:
        stats = measure(fn, budget_s)
        out.update(median=stats.median, p90=stats.p90, reps=stats.reps)
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
