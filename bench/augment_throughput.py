"""Augmentation throughput per policy against a small CNN's training step, one thread.

For every policy of the ladder this times, in one process on the same Fashion-MNIST batches:
  * weightspace's batched engine (``make_augment(policy)``, per-sample randomness), and
  * the per-image torchvision reference (each transform called once per image, as a
    ``Dataset.__getitem__`` would), for the four learned/random policies,
and compares both with the forward/backward/Adam step of ``cnn-small`` at the same batch
size. Rates use process CPU time (robust to other jobs on a shared machine) and the best
of ``--repeats`` interleaved rounds.

    .venv/bin/python bench/augment_throughput.py --batch-size 32 --batches 40 --repeats 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from weightspace.data import AUGMENTATIONS, load_dataset, make_augment, stratified_subset
from weightspace.data.augment import OPS
from weightspace.data.policies import make_policy
from weightspace.models import create_model
from weightspace.threads import set_threads

REFERENCE = ("auto", "rand", "trivial", "augmix")


def rate(fn: Callable[[torch.Tensor], object], batches: list[torch.Tensor]) -> float:
    """Images per CPU-second of ``fn`` over ``batches``."""
    fn(batches[0])  # warm-up (caches, allocator)
    t = time.process_time()
    for b in batches:
        fn(b)
    return sum(len(b) for b in batches) / max(time.process_time() - t, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist", help="any load_dataset name or path")
    ap.add_argument(
        "--model", default="cnn-small", help="the model whose train step is the yardstick"
    )
    args = ap.parse_args()
    set_threads(1)
    torch.manual_seed(0)

    full = load_dataset(args.dataset, data_dir=args.data_dir)
    ds = stratified_subset(full, args.batch_size * args.batches, seed=0)
    batches = list(torch.split(ds.images, args.batch_size))
    labels = list(torch.split(ds.labels, args.batch_size))
    c = ds.in_channels
    mean = torch.tensor(ds.mean()).view(1, c, 1, 1)
    std = torch.tensor(ds.std()).view(1, c, 1, 1)

    model = create_model(args.model, num_classes=ds.num_classes, in_channels=c,
                         image_size=ds.image_size[0])  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xs = [(b.float() / 255 - mean) / std for b in batches]
    it = iter(range(10**9))

    def step(_: torch.Tensor) -> None:
        i = next(it) % len(xs)
        loss = F.cross_entropy(model(xs[i]), labels[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    augs = {name: make_augment(name, in_channels=c) for name in AUGMENTATIONS}
    refs = {n: make_policy(n, OPS[n], in_channels=c, engine="torchvision") for n in REFERENCE}
    best: dict[str, float] = {}
    for _ in range(args.repeats):  # interleaved rounds: load spikes hit every entry alike
        best["train step"] = max(best.get("train step", 0.0), rate(step, batches))
        for name, aug in augs.items():
            best[name] = max(best.get(name, 0.0), rate(aug, batches))
        for name, ref in refs.items():
            key = f"{name} (torchvision per image)"
            best[key] = max(best.get(key, 0.0), rate(lambda b, r=ref: r(b, None), batches))

    step_rate = best["train step"]
    print(f"{ds.name} {tuple(ds.images.shape[1:])}, batch {args.batch_size}, {args.batches} "
          f"batches, best of {args.repeats}, 1 thread, torch {torch.__version__}")  # fmt: skip
    print(f"{'':34s} {'img/s':>10s} {'ms/batch':>9s} {'× step':>8s}")
    print(
        f"{args.model + ' train step':34s} {step_rate:10,.0f} {1e3 * args.batch_size / step_rate:9.2f} {1.0:8.2f}"
    )
    for name, r in best.items():
        if name == "train step":
            continue
        print(f"{name:34s} {r:10,.0f} {1e3 * args.batch_size / r:9.2f} {r / step_rate:8.2f}")
    for name in REFERENCE:
        print(f"speed-up of the batched engine, {name}: "
              f"{best[name] / best[f'{name} (torchvision per image)']:.1f}×")  # fmt: skip


if __name__ == "__main__":
    main()
