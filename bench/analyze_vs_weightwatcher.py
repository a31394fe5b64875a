"""Time ``weightspace.spectral.analyze`` against WeightWatcher 0.7.7 in one process.

Models: a torchvision ResNet-18 (11.7 M parameters, 21 analysable layers) and a stack of
BERT-base-shaped encoder layers (query/key/value/output 768×768, intermediate 3072×768,
output 768×3072 per layer), each with random (PyTorch init) and heavy-tailed (Student-t,
3 degrees of freedom) weights. For each: default options and ``mp_fit=True``, with one
thread and with each tool's out-of-the-box threading. Each timing is the best of
``--repeat`` runs, WeightWatcher and weightspace interleaved so that both see the same
machine load; the ratios are what to compare across machines.

Also printed: the floor — the bare float64 Gram eigendecompositions of the same slices on
one thread (numpy/LAPACK as weightspace uses on CPU, or torch batched, whichever is
faster) — and the largest
|alpha_ww − alpha_weightspace| (and MP columns) with ``compat="ww"``.

    .venv/bin/python bench/analyze_vs_weightwatcher.py            # full run
    .venv/bin/python bench/analyze_vs_weightwatcher.py --quick    # smoke run, ~1 min
    .venv/bin/python bench/analyze_vs_weightwatcher.py --threads 1 --options default --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator

import numpy as np


def resnet18(weights: str, seed: int):  # type: ignore[no-untyped-def]
    import torch
    import torchvision

    torch.manual_seed(seed)
    return _maybe_heavy(torchvision.models.resnet18(num_classes=1000), weights, seed)


def bert_stack(weights: str, seed: int, layers: int = 4):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query, self.key, self.value = (nn.Linear(768, 768) for _ in range(3))
            self.output = nn.Linear(768, 768)

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = Attention()
            self.intermediate = nn.Linear(768, 3072)
            self.output = nn.Linear(3072, 768)

    torch.manual_seed(seed)
    model = nn.Sequential(*(Layer() for _ in range(layers)))
    return _maybe_heavy(model, weights, seed)


def _maybe_heavy(model, weights: str, seed: int):  # type: ignore[no-untyped-def]
    import torch

    if weights == "heavy":
        t = torch.distributions.StudentT(3.0)
        torch.manual_seed(seed + 1)
        with torch.no_grad():
            for p in model.parameters():
                if p.ndim >= 2:
                    p.copy_(0.02 * t.sample(p.shape))
    return model


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Limit torch and BLAS/OpenMP pools to ``n`` threads inside the block."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    with threadpool_limits(limits=n):
        yield
    torch.set_num_threads(before)


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def floor_times(model, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Bare float64 Gram eigendecomposition of every analysed layer: (numpy/LAPACK, torch)."""
    import torch

    from weightspace.spectral.esd import slice_eigenvalues
    from weightspace.spectral.extract import iter_layers

    mats = [s.load() for s in iter_layers(model, compat="ww") if s.load is not None]
    tensors = [torch.from_numpy(a) for a in mats]

    def numpy_floor() -> None:
        for a in mats:
            slice_eigenvalues(a)

    def torch_floor() -> None:
        for w in tensors:
            torch.linalg.eigvalsh(w.transpose(-1, -2) @ w)

    return best_of(numpy_floor, repeat)[0], best_of(torch_floor, repeat)[0]


def run_case(
    model, *, mp_fit: bool, n_threads: int, repeat: int, precision: str = "float64"
) -> dict[str, object]:  # type: ignore[no-untyped-def]
    import weightwatcher as ww

    from weightspace.spectral import analyze

    with threads(n_threads):
        t_ww = t_ws = float("inf")
        ref = None
        for _ in range(repeat):  # interleaved: both tools see the same load
            t, ref = best_of(lambda: ww.WeightWatcher(model=model).analyze(mp_fit=mp_fit), 1)
            t_ww = min(t_ww, t)
            t, _ = best_of(lambda: analyze(model, mp_fit=mp_fit, precision=precision), 1)
            t_ws = min(t_ws, t)
        compat = analyze(model, compat="ww", mp_fit=mp_fit)
    with threads(1):  # the floor is the one-thread float64 eigendecomposition
        floor_np, floor_torch = floor_times(model, repeat)
    done = compat[compat.status != "skipped"].set_index("longname")
    ref = ref.set_index("longname")  # type: ignore[union-attr]
    out: dict[str, object] = {
        "ww_s": t_ww,
        "ws_s": t_ws,
        "speedup": t_ww / t_ws,
        "floor_np_s": floor_np,
        "floor_torch_s": floor_torch,
        "ws_over_floor": t_ws / min(floor_np, floor_torch),
        "layers": len(ref),
        "max_dalpha": float(np.max(np.abs(done.loc[ref.index, "alpha"] - ref["alpha"]))),
    }
    if mp_fit:
        out["max_dsigma_mp"] = float(
            np.max(np.abs(done.loc[ref.index, "sigma_mp"] - ref["sigma_mp"]))
        )
        out["num_spikes_equal"] = bool(
            (done.loc[ref.index, "num_spikes"].to_numpy() == ref["num_spikes"].to_numpy()).all()
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    parser.add_argument("--bert-layers", type=int, default=4)
    parser.add_argument("--threads", choices=["1", "oob", "both"], default="both")
    parser.add_argument("--options", choices=["default", "mp_fit", "both"], default="both")
    parser.add_argument("--weights", choices=["random", "heavy", "both"], default="both")
    parser.add_argument(
        "--precision",
        choices=["float64", "float32"],
        default="float64",
        help="weightspace's eigensolver precision (the floor and compat parity stay float64)",
    )
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    logging.getLogger("weightwatcher").setLevel(logging.CRITICAL)
    oob = len(os.sched_getaffinity(0))
    cases = []
    if args.quick:
        cases = [
            ("resnet18", "random", False, 1),
            ("bert1", "heavy", True, 1),
        ]
        repeat = 1
    else:
        repeat = args.repeat
        thread_set = {"1": (1,), "oob": (oob,), "both": (1, oob)}[args.threads]
        mp_set = {"default": (False,), "mp_fit": (True,), "both": (False, True)}[args.options]
        weight_set = ("random", "heavy") if args.weights == "both" else (args.weights,)
        for name in ("resnet18", f"bert{args.bert_layers}"):
            for weights in weight_set:
                for mp_fit in mp_set:
                    for n_threads in thread_set:
                        cases.append((name, weights, mp_fit, n_threads))
    header = (
        f"{'model':9} {'weights':7} {'options':8} {'thr':>3} {'ww_s':>8} {'ws_s':>7} "
        f"{'speedup':>7} {'floor_s':>8} {'ws/floor':>8} {'max|dα|':>9} {'mp check':>18}"
    )
    print(f"# threads out-of-the-box = {oob}; best of {repeat}; precision {args.precision}")
    print(header)
    for name, weights, mp_fit, n_threads in cases:
        if name == "resnet18":
            model = resnet18(weights, 0)
        else:
            model = bert_stack(weights, 0, layers=int(name[4:]))
        r = run_case(
            model, mp_fit=mp_fit, n_threads=n_threads, repeat=repeat, precision=args.precision
        )
        floor = min(r["floor_np_s"], r["floor_torch_s"])  # type: ignore[type-var]
        mp_check = (
            f"dσ={r['max_dsigma_mp']:.1e} spikes={'=' if r['num_spikes_equal'] else '≠'}"
            if mp_fit
            else ""
        )
        print(
            f"{name:9} {weights:7} {'mp_fit' if mp_fit else 'default':8} {n_threads:>3} "
            f"{r['ww_s']:8.2f} {r['ws_s']:7.2f} {r['speedup']:6.1f}x {floor:8.2f} "
            f"{r['ws_over_floor']:8.2f} {r['max_dalpha']:9.1e} {mp_check:>18}",
            flush=True,
        )


if __name__ == "__main__":
    main()
