"""Regenerate every stored peer answer: run each scenario in real TensorFlow / MindSpore.

    /work/wt/oracle-venv/bin/python -m tests.peers.record [--only tf|ms] [--stem STEM]

(or ``python tests/peers/record.py`` from the repository root). Needs tensorflow==2.21.0
and mindspore==2.10.0 in that venv (MindSpore's wheel is built against numpy 1.x, TF's
ml-dtypes wants numpy 2: record ``--only ms`` with numpy<2, ``--only tf`` with numpy 2);
``make test`` never runs this, it reads the stored files in ``tests/peers/cases/``.
Inputs are seeded numpy, so a re-run rewrites the same files (up to the libraries' own last bits).
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "tests.peers"

from .scenarios_cf import control_flow_scenarios
from .scenarios_v1 import mindspore_scenarios, tensorflow_scenarios
from .scenarios_v2 import v2_scenarios
from .wire import enc

CASES = Path(__file__).resolve().parent / "cases"
RECORDED_BY = "recorded by tests/peers/record.py"


def tolerances(case: dict[str, Any]) -> tuple[float, float]:
    req = case["request"]
    desc = req.get("graph") or req.get("network")
    f32 = any(n.get("dtype", "float32") in ("float32", "float16") for n in desc["nodes"]
              if n["op"] in ("placeholder", "variable", "constant")
              and str(n.get("dtype", "float32")).startswith("float"))
    return (1e-5, 1e-6) if f32 else (1e-6, 1e-9)


def tf_answer(case: dict[str, Any]) -> tuple[Any, str]:
    import tensorflow as tf

    from . import oracle_tf
    got = oracle_tf.gradients(case["request"], case.get("then"))
    how = (f"tensorflow {tf.__version__}, tf.compat.v1.gradients in graph mode "
           "(tf.compat.v1.Session, control flow v2, CPU)")
    if case.get("then"):
        how += "; then tf.gradients of the first gradients (second order)"
    return got, how


def ms_answer(case: dict[str, Any]) -> tuple[Any, str]:
    from . import oracle_ms
    return oracle_ms.grad_operation(case["request"])


def record(stem: str, scenarios: list[dict[str, Any]],
           answer: Callable[[dict[str, Any]], tuple[Any, str]]) -> tuple[int, int]:
    cases, failed = [], 0
    for sc in scenarios:
        try:
            got, how = answer(sc)
        except Exception as exc:  # the oracle refused: report, do not store a guess
            failed += 1
            print(f"  {stem}: {sc['id']}: {type(exc).__name__}: {exc}".splitlines()[0][:300],
                  file=sys.stderr)
            if "--verbose" in sys.argv:
                traceback.print_exc()
            continue
        rtol, atol = tolerances(sc)
        case = {"id": sc["id"], "source": f"{sc['source']}; answered by {how}; {RECORDED_BY}",
                "endpoint": sc["endpoint"], "request": sc["request"]}
        if "then" in sc:
            case["then"] = sc["then"]
        case["expect"] = {"status": 200, "gradients": enc(got), "rtol": rtol, "atol": atol}
        cases.append(case)
    CASES.mkdir(exist_ok=True)
    (CASES / f"{stem}.json").write_text(json.dumps(cases, indent=1) + "\n")
    print(f"{stem}: {len(cases)} recorded, {failed} refused by the oracle")
    return len(cases), failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("tf", "ms"))
    ap.add_argument("--stem", action="append", help="record only these files")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    jobs: list[tuple[str, list[dict[str, Any]], Any]] = []
    if args.only in (None, "tf"):
        jobs += [(k, v, tf_answer) for k, v in tensorflow_scenarios().items()]
        jobs += [(k, v, tf_answer) for k, v in v2_scenarios("tf").items()]
        jobs += [(k, v, tf_answer) for k, v in control_flow_scenarios("tf").items()]
    if args.only in (None, "ms"):
        jobs += [(k, v, ms_answer) for k, v in mindspore_scenarios().items()]
        jobs += [(k, v, ms_answer) for k, v in v2_scenarios("ms").items()]
        jobs += [(k, v, ms_answer) for k, v in control_flow_scenarios("ms").items()]
    for stem, scenarios, answer in jobs:
        if args.stem and stem not in args.stem:
            continue
        record(stem, scenarios, answer)


if __name__ == "__main__":
    main()
