"""Fusion: chains of small elementwise steps run as one compiled loop (numba).

A plan of many elementwise ops on small arrays spends its time in numpy's per-call
overhead (~0.5-1 us a ufunc call, whatever the size), not in arithmetic. Here such steps
are grouped and each group becomes one numba kernel: one loop over the elements, every
intermediate a register, only the values read outside the group written to memory.

What fuses: a step whose callable is a numpy ufunc from ``UFUNCS`` (one output), whose
output is float32 or float64 with a static shape, and whose inputs have that dtype and
either that shape or one element (broadcast), if its array is small enough for the call
it saves to outweigh what the op costs more in a scalar loop than in numpy's SIMD kernel
(``_EXTRA_NS``: arithmetic fuses up to ``SMALL_LIMIT`` elements, tanh up to 24; numbers
in bench/FUSION.md). Steps group by class (shape, dtype) and by
"barrier depth", the most steps of other classes on any path into them: a group so made
is convex (no path leaves it and comes back), so it can run as one step.

Compiling costs ~0.1 s to a few seconds (W4's 700-op kernel: 2-5 s; numba itself takes
~0.6 s to import), so a plan fuses only after ``FUSE_AFTER`` runs, on one background
thread (``later``: no request waits for it; the plan runs unfused meanwhile), and kernels
are cached on disk (``GRADSERVE_FUSION_CACHE``, default ``~/.cache/gradserve/fusion``, else
the temp directory), named by a hash of their source, so a restarted process loads them
(~1 s); the folder is kept under ``CACHE_BYTES``, its kernels used longest ago removed
(``prune``). Without numba, or if anything in this fails, the plan runs unfused.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import heapq
import importlib.util
import logging
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SMALL_LIMIT = 1 << 22  # elements: the most any kernel loops over (see bench/FUSION.md)
MIN_GROUP = 3  # steps: a fused call of fewer costs about what the ufunc calls do
MAX_GROUP = 1024  # steps: LLVM's time grows faster than a kernel's length (W4's 700: 2-5 s)
FUSE_AFTER = 20  # plan runs before its groups are compiled (the cold path never pays)
CALL_NS = 600  # what a numpy call costs in a plan beyond its arithmetic
MAX_KERNELS = 512  # per process: compiled code is never freed, so a long-lived worker
                   # serving ever new graphs stops fusing new ones here instead of growing
CACHE_BYTES = 256 << 20  # on disk, every process's kernels: past it the least recently
                        # used are removed (``prune``), as new graphs would fill the disk

# The numpy ufuncs numba compiles on float scalars with numpy's semantics (checked for
# every elementwise op by the every-op sweep, NaN and inf included), each with what an
# element costs more in numba's scalar loop than in numpy's SIMD kernel (ns, the worse of
# float32 and float64, measured on AVX-512): a step fuses only while its array is small
# enough that the call it saves (CALL_NS) outweighs that, so tanh at most 24 elements.
_EXTRA_NS = {
    np.add: 0.0, np.subtract: 0.0, np.multiply: 0.0, np.true_divide: 0.0, np.negative: 0.0,
    np.absolute: 0.0, np.sqrt: 0.0, np.square: 0.0, np.reciprocal: 0.0, np.floor: 0.0,
    np.ceil: 0.0, np.maximum: 0.05, np.minimum: 0.05,
    np.exp: 4.1, np.log: 3.4, np.sin: 2.4, np.cos: 2.2, np.power: 16.9,
    np.expm1: 18.7, np.log1p: 19.1, np.tan: 20.5, np.tanh: 24.2, np.arctan2: 24.3,
}
UFUNCS = frozenset(_EXTRA_NS)
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # what compiled loops take

Spec = tuple[tuple[int, ...], np.dtype]  # a slot's static shape and dtype


def enabled() -> bool:
    """Whether plans fuse: numba is installed (imported only when a kernel is compiled)
    and ``GRADSERVE_FUSION`` is not ``0``."""
    global _ENABLED
    if _ENABLED is None:
        _ENABLED = (os.environ.get("GRADSERVE_FUSION", "1") != "0"
                    and importlib.util.find_spec("numba") is not None)
    return _ENABLED


_ENABLED: bool | None = None
# the engine's own variables (the service's start-up check knows them as not typos)
ENVIRONMENT = {
    "GRADSERVE_FUSION": "0 turns fusion and the compiled conv and array loops off (on "
                        "when numba is installed)",
    "GRADSERVE_FUSION_CACHE": "the folder of compiled kernels (default "
                              "~/.cache/gradserve/fusion, else the temp directory)",
}
_log = logging.getLogger("gradserve.fusion")


def log_failure(exc: BaseException) -> None:
    """A group could not be compiled: the plan runs unfused; say why once per process."""
    if not getattr(log_failure, "said", False):
        log_failure.said = True  # type: ignore[attr-defined]
        _log.warning("fusion off for a plan: %s: %s", type(exc).__name__, exc)


def fusible(fn: Any, ins: Sequence[int], out: int, specs: dict[int, Spec], *,
            alone: bool = True) -> Spec | None:
    """The class (shape, dtype) a step fuses in, or None if it stays a numpy call.
    ``alone``: judged by its own cost (else its group's cost is judged, in ``groups``)."""
    if fn not in UFUNCS or fn.nin != len(ins) or out not in specs:
        return None
    shape, dtype = specs[out]
    size = _size(shape)
    if dtype not in FLOATS or not 0 < size <= SMALL_LIMIT or (
            alone and _extra(fn, size) > CALL_NS):
        return None
    for j in ins:
        got = specs.get(j)
        if got is None or got[1] != dtype or (got[0] != shape and _size(got[0]) != 1):
            return None
        if len(got[0]) > len(shape):
            return None
    return shape, dtype


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _extra(fn: Any, size: int) -> float:
    return size * _EXTRA_NS[fn]


def groups(steps: Sequence[tuple[Any, tuple[int, ...], int]],
           specs: dict[int, Spec]) -> list[list[int]]:
    """Step indices fused together (each list in plan order, ``MIN_GROUP`` or more).

    First every fusible step joins, whatever it costs in a kernel; a group that costs more
    in all (its steps' extra per-element cost) than the calls it saves is formed again
    without the steps that do not pay for their own call (tanh on [64] joins a long chain
    whose saved calls pay for it, not a short one)."""
    klass = [fusible(fn, ins, out, specs, alone=False) for fn, ins, out in steps]
    found = _grouped(steps, klass)
    dear = False
    for g in found:
        size = _size(specs[steps[g[0]][2]][0])
        if sum(_extra(steps[i][0], size) for i in g) > (len(g) - 1) * CALL_NS:
            for i in g:
                if _extra(steps[i][0], size) > CALL_NS:
                    klass[i], dear = None, True
    return _grouped(steps, klass) if dear else found


def _grouped(steps: Sequence[tuple[Any, tuple[int, ...], int]],
             klass: list[Spec | None]) -> list[list[int]]:
    producer = {out: i for i, (_, _, out) in enumerate(steps)}
    found: dict[tuple[Spec, int], list[int]] = {}
    for k in {c for c in klass if c is not None}:
        depth: list[int] = []
        for i, (_, ins, _) in enumerate(steps):
            d = 0
            for j in ins:
                p = producer.get(j)
                if p is not None:
                    d = max(d, depth[p] + (klass[p] != k))
            depth.append(d)
            if klass[i] == k:
                found.setdefault((k, d), []).append(i)
    # a long group is cut in plan order: each piece is still convex (no path runs back)
    pieces = [g[k:k + MAX_GROUP] for g in found.values() for k in range(0, len(g), MAX_GROUP)]
    return sorted((g for g in pieces if len(g) >= MIN_GROUP), key=lambda g: g[0])


def fused_steps(steps: Sequence[tuple[Any, tuple[int, ...], int]], specs: dict[int, Spec],
                fetches: Sequence[int], constants: dict[int, Any]) -> list[Any] | None:
    """A plan's steps ``(fn, ins, out)`` reordered with each group as one step
    ``(Kernel, inputs, outputs, ())`` (the others as ``(fn, ins, out, ())``), or None if
    nothing fuses. Compiles the kernels."""
    found = groups(steps, specs)
    if not found:
        return None
    producer = {out: i for i, (_, _, out) in enumerate(steps)}
    deps = [[producer[j] for j in ins if j in producer] for _, ins, _ in steps]
    group_of = {i: k for k, g in enumerate(found) for i in g}
    outside = set(fetches)  # slots read by a step of another group, or by no group
    for i, (_, ins, _) in enumerate(steps):
        outside.update(j for j in ins if i not in group_of
                       or group_of.get(producer.get(j)) != group_of[i])
    out: list[Any] = []
    for unit in schedule(len(steps), deps, found):
        if unit[0] not in group_of:
            out.append((*steps[unit[0]], ()))
            continue
        klass = fusible(*steps[unit[0]], specs, alone=False)
        assert klass is not None
        k = Kernel(steps, unit, klass, specs, constants, outside)
        out.append((k, tuple(k.inputs), tuple(k.outputs), ()))
    return out


def schedule(n: int, deps: Sequence[Sequence[int]], fused: list[list[int]]) -> list[list[int]]:
    """The steps in an order that runs each group as one: a list of groups and lone steps
    (``[i]``), topologically sorted, ties going to the earliest step (``deps[i]``: the
    steps step ``i`` reads)."""
    unit = list(range(n))  # step -> its unit: a step's own index, or its group's first
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    for g in fused:
        for i in g:
            unit[i] = g[0]
            members.pop(i, None)
        members[g[0]] = g
    after: dict[int, set[int]] = {u: set() for u in members}
    waiting = {u: 0 for u in members}
    for i in range(n):
        for d in deps[i]:
            a, b = unit[d], unit[i]
            if a != b and b not in after[a]:
                after[a].add(b)
                waiting[b] += 1
    ready = [u for u, w in waiting.items() if w == 0]
    heapq.heapify(ready)
    order: list[list[int]] = []
    while ready:
        u = heapq.heappop(ready)
        order.append(members[u])
        for b in after[u]:
            waiting[b] -= 1
            if waiting[b] == 0:
                heapq.heappush(ready, b)
    assert len(order) == len(members), "fusion made a cycle"  # groups are convex
    return order


class Kernel:
    """One group as one loop, compiled when made: ``emit`` writes the lines that call it."""

    def __init__(self, steps: Sequence[tuple[Any, tuple[int, ...], int]], members: list[int],
                 klass: Spec, specs: dict[int, Spec], constants: dict[int, Any],
                 needed_outside: set[int]):
        self.shape, self.dtype = klass
        self.size = _size(self.shape)
        own = {steps[i][2] for i in members}
        self.inputs: list[int] = []  # slots read from outside, in first-read order
        self.scalars: set[int] = set()  # those of one element, read once before the loop
        body: list[str] = []
        for i in members:
            fn, ins, out = steps[i]
            args = []
            for j in ins:
                if j in own:
                    args.append(f"v{j}")
                    continue
                if j in constants and _size(specs[j][0]) == 1:
                    args.append(_literal(constants[j], self.dtype))
                    continue
                if j not in self.inputs:
                    self.inputs.append(j)
                    if _size(specs[j][0]) == 1:
                        self.scalars.add(j)
                args.append(f"v{j}" if j in self.scalars else f"a{j}[i]")
            body.append(f"        v{out} = np.{fn.__name__}({', '.join(args)})")
        self.outputs = [steps[i][2] for i in members if steps[i][2] in needed_outside]
        body += [f"        o{j}[i] = v{j}" for j in self.outputs]
        t = self.dtype.name
        sig = ", ".join(["In"] * len(self.inputs) + [f"T.{t}[::1]"] * len(self.outputs))
        params = ", ".join([*(f"a{j}" for j in self.inputs), *(f"o{j}" for j in self.outputs)])
        self.source = "\n".join([
            "import numpy as np", "from numba import njit, types as T", "",
            f"In = T.Array(T.{t}, 1, 'C', readonly=True)  # takes writable arrays too",
            f"@njit(T.void({sig}), cache=True, nogil=True, error_model='numpy')",
            f"def kernel({params}):", *(f"    v{j} = a{j}[0]" for j in self.scalars),
            f"    for i in range({self.size}):", *body, ""])
        self.fn = _load(self.source)

    def emit(self, name: str, local: Callable[[int], str], indent: str = "    ") -> list[str]:
        """Lines of a generated function calling this kernel, bound as ``name`` (and its
        dtype as ``name_dtype``); ``local(j)`` spells slot j's variable, and the lines
        start with ``indent``. Inputs go in contiguous (a view of a feed may not be) and
        flat, outputs come out shaped."""
        flat = len(self.shape) != 1
        ins = [f"flat({local(j)})" for j in self.inputs]
        outs = [f"{name}_o{j}" for j in self.outputs]
        lines = [f"{indent}{o} = empty({self.size}, {name}_dtype)" for o in outs]
        lines.append(f"{indent}{name}({', '.join([*ins, *outs])})")
        shaped = f".reshape({self.shape!r})" if flat else ""
        lines += [f"{indent}{local(j)} = {o}{shaped}" for j, o in zip(self.outputs, outs,
                                                                         strict=True)]
        return lines


def _literal(value: Any, dtype: np.dtype) -> str:
    """A constant baked into the source, exactly (float32 -> float64 is exact)."""
    v = float(np.asarray(value).reshape(-1)[0])
    return f"np.{dtype.name}({v!r})" if np.isfinite(v) else f"np.{dtype.name}(np.{v!r})"


class KernelBudget(RuntimeError):
    """The process has compiled ``MAX_KERNELS`` kernels: new plans stay unfused."""


_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}


def cache_dir() -> Path:
    return Path(os.environ.get("GRADSERVE_FUSION_CACHE")
                or Path.home() / ".cache" / "gradserve" / "fusion")


def _write(folder: Path, key: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"k{key}.py"
    if path.exists():
        with contextlib.suppress(OSError):  # a read-only cache is still read
            os.utime(path)  # used now: prune keeps what was used last
    if folder not in _PRUNED:
        _PRUNED.add(folder)
        prune(folder)
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)  # atomic: another process may write the same file
    return path


_PRUNED: set[Path] = set()  # the folders this process has pruned (once each)


def prune(folder: Path, limit: int | None = None) -> int:
    """Keep in ``folder`` the kernels used last (a kernel's source, touched by every process
    that loads it, with numba's and Python's files beside it) that hold at most ``limit``
    bytes (``CACHE_BYTES``) together; remove the others, and say how many. Run once
    per process and folder, at its first kernel (on the fusion thread): nothing else ever
    removes one, and every new graph shape writes new ones. A kernel another process
    loads as it is removed fails to load there: that plan runs unfused."""
    limit = CACHE_BYTES if limit is None else limit
    files: dict[str, list[Path]] = {}
    for path in (*folder.glob("k*"), *folder.glob("__pycache__/k*")):
        files.setdefault(path.name.split(".", 1)[0], []).append(path)
    kernels = []
    for key, paths in files.items():
        stats = {p: _stat(p) for p in paths}
        source = stats.get(folder / f"{key}.py")
        used = source.st_mtime if source else 0.0  # no source: loadable by no one
        kernels.append((used, sum(st.st_size for st in stats.values() if st), paths))
    kernels.sort(key=lambda k: k[0], reverse=True)
    kept = 0
    for n, (_, size, _paths) in enumerate(kernels):
        kept += size
        if kept > limit:  # this one and every one used before it go
            for path in (p for _, _, older in kernels[n:] for p in older):
                with contextlib.suppress(OSError):
                    path.unlink()
            return len(kernels) - n
    return 0


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:  # another process removed it meanwhile
        return None


def _load(source: str) -> Any:
    """The kernel of ``source``: written once to the cache directory under its hash and
    imported from there, so that numba's ``cache=True`` finds its compiled form again."""
    key = hashlib.sha256(source.encode()).hexdigest()[:24]
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        if len(_LOADED) >= MAX_KERNELS:
            raise KernelBudget(f"{MAX_KERNELS} kernels compiled in this process already")
        try:
            path = _write(cache_dir(), key, source)
        except OSError:  # a read-only home (deploy/): the temp directory is writable
            path = _write(Path(tempfile.gettempdir()) / "gradserve-fusion", key, source)
        spec = importlib.util.spec_from_file_location(f"_gradserve_fused_{key}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _LOADED[key] = module.kernel
        return module.kernel


def flat(a: Any) -> np.ndarray:
    """``a`` as a contiguous 1-D array, without a copy when it is one already."""
    if type(a) is np.ndarray and a.ndim == 1 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a).reshape(-1)


_TASKS: queue.Queue[Any] = queue.Queue()
_START = threading.Lock()
_WORKER: list[threading.Thread] = []


def later(task: Any) -> None:
    """Run ``task()`` on the one fusion thread (started on first use), after those before."""
    with _START:  # not _LOCK, which a compile holds for seconds
        if not _WORKER:
            _WORKER.append(threading.Thread(target=_work, name="gradserve-fusion",
                                            daemon=True))
            _WORKER[0].start()
    _TASKS.put(task)


def _work() -> None:
    while True:
        task = _TASKS.get()
        try:
            if not _CLOSING:
                task()
        except Exception as exc:  # a plan's _fused catches its own; anything else: say so
            log_failure(exc)
        finally:
            _TASKS.task_done()


def wait() -> None:
    """Until every fusion asked for so far is done (tests, and the bench's warm-up)."""
    _TASKS.join()


_CLOSING = False


@atexit.register
def _close() -> None:
    """At exit, drop the fusions not begun (the thread skips them) and give the one under
    way time to finish: a daemon thread stopped inside LLVM while the interpreter
    finalizes can abort the process."""
    global _CLOSING
    _CLOSING = True
    deadline = time.monotonic() + 30.0  # the largest kernel's compile, with room
    while _TASKS.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.05)
