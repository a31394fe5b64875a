"""Fine-tuning throughput: the study's loop against the bare step, on the `finetune` preset's model.

Both loops fine-tune the same network (EfficientNet-Lite0 with its ImageNet weights, a new
10-class head, inputs upsampled to the preset's 32×32, channels-last) on the same data (a
stratified Fashion-MNIST subset) with the preset's batch size (64), optimizer (Adam, lr 1e-3)
and one thread, in one process:

- ``weightspace``: :func:`weightspace.train.loop.fit`, the loop every run of the study uses
  (uint8 batches gathered by index, one fused normalisation, running sums on the device),
  normalising with the statistics the model declares (0.5 / 0.5);
- ``floor``: the bare forward / backward / optimizer step over batches normalised in advance,
  the same batches in the same order — what no loop can beat.

No augmentation (the target is within 1.15× of the floor). Each loop runs ``--repeats`` times,
interleaved; the best is kept. Images/s are computed from the process CPU time (the machine is
shared; the wall-clock column shows how much it was disturbed). Both loops do the same
arithmetic, so their final weights must be identical; the script checks that.

    .venv/bin/python bench/finetune_throughput.py [--train-size 1024] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torch.nn.functional as F

from weightspace.data import load_dataset, stratified_subset
from weightspace.models import create_model
from weightspace.study import StudySpec, expand
from weightspace.threads import set_threads
from weightspace.train.image import ImageBatches
from weightspace.train.inputs import normalizer, to_input
from weightspace.train.loop import fit

SEED = 0


def _model(image_size: int) -> Any:
    torch.manual_seed(SEED)
    return create_model("efficientnet-lite0", num_classes=10, in_channels=1,
                        pretrained="imagenet", image_size=image_size)  # fmt: skip


def weightspace_loop(data: dict[str, Any], cfg: Any) -> tuple[Any, float, float]:
    model = _model(cfg.image_size)
    mean, std = model.input_stats(1)
    wall, cpu = time.perf_counter(), time.process_time()
    fit(model, ImageBatches(data["x"], data["y"], mean, std, seed=cfg.seed), config=cfg)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def floor_loop(data: dict[str, Any], cfg: Any) -> tuple[Any, float, float]:
    model = _model(cfg.image_size)
    mean, std = model.input_stats(1)
    scale, shift = normalizer(mean, std)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    n = data["x"].shape[0]
    epochs = []
    for _ in range(cfg.epochs):  # the batches of fit(): same generator, same permutations
        perm = torch.randperm(n, generator=shuffle)
        epochs.append([(to_input(data["x"][i], scale, shift), data["y"][i])
                       for i in perm.split(cfg.batch_size)])  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    wall, cpu = time.perf_counter(), time.process_time()
    model.train()
    for batches in epochs:
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-size", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    set_threads(args.threads)
    base = next(p.config for p in expand(StudySpec.from_preset("finetune")) if p.condition == "bs")
    cfg = base.replace(epochs=args.epochs, threads=args.threads)
    full = load_dataset("fashion-mnist", split="train")
    sub = stratified_subset(full, args.train_size, seed=SEED)
    data = {"x": sub.images, "y": sub.labels}
    _model(cfg.image_size)  # warm-up: imports, weights file in the page cache
    best: dict[str, tuple[float, float]] = {}
    models: dict[str, Any] = {}
    for _ in range(args.repeats):
        for name, loop in (("weightspace", weightspace_loop), ("floor", floor_loop)):
            model, wall, cpu = loop(data, cfg)
            models[name] = model
            if name not in best or cpu < best[name][1]:
                best[name] = (wall, cpu)
    same = all(torch.equal(a, b) for a, b in zip(models["weightspace"].state_dict().values(),
                                                 models["floor"].state_dict().values(), strict=True))  # fmt: skip
    images = args.train_size * args.epochs
    print(f"efficientnet-lite0 (ImageNet) at {cfg.image_size}x{cfg.image_size}, "
          f"{args.train_size} images x {args.epochs} epoch(s), batch {cfg.batch_size}, "
          f"{args.threads} thread(s), best of {args.repeats}")  # fmt: skip
    print(f"{'loop':<12} {'img/s (CPU)':>12} {'img/s (wall)':>13}")
    for name, (wall, cpu) in best.items():
        print(f"{name:<12} {images / cpu:>12.1f} {images / wall:>13.1f}")
    ratio = best["weightspace"][1] / best["floor"][1]
    print(f"weightspace / floor (CPU time): {ratio:.3f}x (target <= 1.15x)")
    print(f"identical final weights: {same}")


if __name__ == "__main__":
    main()
