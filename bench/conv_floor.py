"""What limits W5: its three GEMMs alone, on numpy's BLAS, against ours and PyTorch eager.

conv2d's forward and both backprops are, in the engine as in the numpy floor, GEMMs over
the im2col patch matrix (``patches @ w``, ``patches^T @ dy``, ``dy @ w^T``); everything
else (im2col, col2im, relu, mean) moves memory. Timing the three GEMMs alone, on the
same shapes and in the same interleaved rounds as ours and PyTorch eager's whole pass,
says how much of "W5 <= 1.2x PyTorch eager" is left for that memory traffic.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import floor, ours
from .peers import VARIANTS, version
from .timing import measure_interleaved
from .workloads import Workload

GEMMS, OURS, TORCH = "the three GEMMs alone", "ours (compute_gradients)", "PyTorch eager"


def gemms(w: Workload) -> Callable[[], Any]:
    """The three products W5's gradient needs, on its patch matrix (built once, untimed)."""
    x, f = w.arrays["x"], w.arrays["w"]
    kh, kw, cin, cout = f.shape
    patches = floor.im2col(x, kh, kw)
    wm = f.reshape(kh * kw * cin, cout)
    dy = np.full((patches.shape[0], cout), 1.0 / (patches.shape[0] * cout), x.dtype)

    def run() -> Any:
        return patches @ wm, patches.T @ dy, dy @ wm.T

    return run


def run(w: Workload, budget_s: float, log: Callable[[str], Any] = print) -> dict[str, float]:
    """Median us of each of the three (PyTorch's only if installed)."""
    fns = {GEMMS: gemms(w), OURS: ours.make_api_runner(w)}
    torch = next(v for v in VARIANTS if v.label == TORCH)
    if version(torch.module)[1] is None:
        fns[TORCH] = torch.make(w).run
    times = measure_interleaved(fns, budget_s)
    out = {name: t.median * 1e6 for name, t in times.items()}
    log("[conv floor] " + ", ".join(f"{k} {v:.0f} us" for k, v in out.items()))
    return out


def section(figures: dict[str, float]) -> str:
    gemms, ours_us = figures[GEMMS], figures[OURS]
    rows = [f"| {name} | {us:,.1f} |" for name, us in figures.items()]
    text = ("\n### What limits W5\n\n"
            "W5's three GEMMs alone (`patches @ w`, `patches^T @ dy`, `dy @ w^T` on its "
            "shapes, numpy's BLAS, the patch matrix built beforehand), timed in the same "
            "interleaved rounds as ours and PyTorch eager's whole pass (`bench/conv_floor.py`)."
            f" Ours spends {ours_us - gemms:,.0f} us beyond the GEMMs (im2col, col2im, relu, "
            "mean, the plan).")
    if TORCH in figures:
        limit = 1.2 * figures[TORCH]
        text += (f" W5 <= 1.2x PyTorch eager means at most {limit:,.0f} us in all, which "
                 f"leaves {limit - gemms:,.0f} us beyond these GEMMs.")
    return text + "\n\n| what | median us |\n|---|---|\n" + "\n".join(rows) + "\n"
