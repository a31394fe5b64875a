"""What training dynamics cost: one spectral snapshot and one Hessian probe, against a step.

For each model, in one process, on the same random batch:

- ``step``: one training step (forward, backward, Adam step) — the floor every overhead is
  measured against;
- ``snapshot``: :func:`weightspace.spectral.analyze` of every layer, the cheap path that the
  step snapshots use (no MP fit, no randomized control), and the same with ``mp_fit``;
- ``probe``: one Rademacher probe of :func:`weightspace.train.sharpness.hessian_trace` on one
  batch (one Hessian-vector product by double backward), and PyHessian 0.1's
  ``hessian.trace`` per probe on the same batch when it is installed (the incumbent).

Models: ``cnn-small`` on 28×28 grey images (the scratch preset) and EfficientNet-Lite0 at
32×32 (the fine-tuning presets) — weightspace's ``efficientnet-lite0`` when the registry
has it, else timm's ``tf_efficientnet_lite0`` with random weights (same layers and shapes,
so the same cost). Every timing is the median of ``--repeats`` after a warm-up.

    .venv/bin/python bench/dynamics_overhead.py [--threads 1] [--batch-size 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.models import MODELS, create_model
from weightspace.spectral.analyze import analyze
from weightspace.threads import set_threads
from weightspace.train.sharpness import hessian_trace


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _models() -> dict[str, tuple[nn.Module, tuple[int, int, int]]]:
    torch.manual_seed(0)
    out = {"cnn-small": (create_model("cnn-small", num_classes=10, in_channels=1), (1, 28, 28))}
    if "efficientnet-lite0" in MODELS:
        net = create_model("efficientnet-lite0", num_classes=10, in_channels=3, image_size=32)
        out["efficientnet-lite0"] = (net, (3, 32, 32))
    else:
        import timm

        net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=10)
        out["tf_efficientnet_lite0 (timm)"] = (net, (3, 32, 32))
    return out


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return F.cross_entropy(model(batch[0]), batch[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--probes", type=int, default=8, help="probes per timed trace")
    args = parser.parse_args()
    set_threads(args.threads)
    try:
        import pyhessian
    except ImportError:
        pyhessian = None
    print(f"threads {args.threads}, batch {args.batch_size}, median of {args.repeats}")
    header = (
        "model", "params", "step s", "snapshot s", "÷ step", "+mp_fit s", "probe s", "÷ step",
        "pyhessian probe s", "pyhessian ÷ ours",
    )  # fmt: skip
    print(" | ".join(header))
    for name, (model, shape) in _models().items():
        print(_measure(name, model, shape, args, pyhessian))


def _measure(
    name: str,
    model: nn.Module,
    shape: tuple[int, int, int],
    args: argparse.Namespace,
    pyhessian: Any,
) -> str:
    g = torch.Generator().manual_seed(1)
    batch = (torch.randn(args.batch_size, *shape, generator=g),
             torch.randint(0, 10, (args.batch_size,), generator=g))  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    few = max(1, args.repeats // 2)

    def step() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        _loss(model, batch).backward()
        opt.step()

    t_step = _median_time(step, args.repeats)
    t_snap = _median_time(lambda: analyze(model, threads=args.threads), args.repeats)
    t_mp = _median_time(lambda: analyze(model, mp_fit=True, threads=args.threads), few)
    t_probe = (
        _median_time(
            lambda: hessian_trace(model, _loss, [batch], n_probes=args.probes, seed=0), few
        )
        / args.probes
    )
    ref = ratio = "n/a"
    if pyhessian is not None:

        def ref_trace() -> None:
            h = pyhessian.hessian(model, nn.CrossEntropyLoss(), data=batch, cuda=False)
            h.trace(maxIter=args.probes, tol=0.0)

        t_ref = _median_time(ref_trace, few) / args.probes
        ref, ratio = f"{t_ref:.3f}", f"{t_ref / t_probe:.2f}×"
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    return (
        f"{name} | {n_params:,} | {t_step:.3f} | {t_snap:.3f} | {t_snap / t_step:.1f}× | "
        f"{t_mp:.3f} | {t_probe:.3f} | {t_probe / t_step:.1f}× | {ref} | {ratio}"
    )


if __name__ == "__main__":
    main()
