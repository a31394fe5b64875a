"""Several seeds as one vectorised ensemble against separate runs, on the main job's network.

The main job fine-tunes EfficientNet-Lite0 (ImageNet weights, new 10-class head, 32×32,
channels-last) once per condition × seed. One candidate to make that cheaper is training the
seeds of a condition together: ``torch.func.stack_module_state`` + ``functional_call`` +
``vmap`` over S copies of the model (batch norm in train mode, each copy with its own
buffers). This script times, in one process on one thread, the training step the study uses
(one model, channels-last) against the vectorised step for S = 1, 2, 4 models, with the same
per-model batch, and prints images per CPU-second and the ratio.

    .venv/bin/python bench/finetune_ensemble.py [--batch 60] [--steps 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from weightspace.models import create_model
from weightspace.threads import set_threads


def build(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model("efficientnet-lite0", num_classes=10, in_channels=1,
                         pretrained="imagenet", image_size=32)  # fmt: skip
    return model.train()


def inputs(n_models: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_models, batch, 1, 28, 28), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 10, (n_models, batch), generator=gen)
    return x.float() / 127.5 - 1.0, y  # (S, B, 1, 28, 28): normalised as mean = std = 0.5


def cpu_seconds(step: Callable[[], None], steps: int) -> float:
    for _ in range(2):  # warm-up
        step()
    start = time.process_time()
    for _ in range(steps):
        step()
    return time.process_time() - start


def separate(batch: int, steps: int) -> float:
    """Images per CPU-second of the study's step (one model, channels-last)."""
    model = build(0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = inputs(1, batch)
    xb = x[0].contiguous(memory_format=torch.channels_last)

    def step() -> None:
        loss = F.cross_entropy(model(xb), y[0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return batch * steps / cpu_seconds(step, steps)


def ensemble(n_models: int, batch: int, steps: int) -> float:
    """Images per CPU-second of ``n_models`` copies trained as one vmapped step (vmap works
    on the default layout only: channels-last is lost)."""
    models = [build(s) for s in range(n_models)]
    params, buffers = stack_module_state(models)  # type: ignore[arg-type]
    base = build(0).to("meta")
    base.channels_last = False  # type: ignore[assignment]  # vmap cannot query other layouts
    opt = torch.optim.Adam(list(params.values()), lr=2e-3)
    x, y = inputs(n_models, batch)

    def loss_of(p: dict, b: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(base, (p, b), (xi,)), yi)

    batched = vmap(loss_of, randomness="different")

    def step() -> None:
        loss = batched(params, buffers, x, y).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return n_models * batch * steps / cpu_seconds(step, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    set_threads(1)
    floor = separate(args.batch, args.steps)
    print(f"separate runs (the study's step, channels-last): {floor:7.1f} images / CPU-s")
    for n in (1, 2, 4):
        rate = ensemble(n, args.batch, args.steps)
        print(f"vmap ensemble of {n} models:                    {rate:7.1f} images / CPU-s "
              f"({floor / rate:.2f}x slower than separate runs)")  # fmt: skip


if __name__ == "__main__":
    main()
