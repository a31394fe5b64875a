"""Training throughput: weightspace's loop against a paper-style loop and the floor.

Three loops train the same model (cnn-small) on the same data (a stratified Fashion-MNIST
subset, 5,000 images by default) with the same batch size (32), optimizer (Adam, lr 1e-3)
and thread count (1), in one process:

- ``weightspace``: :func:`weightspace.train.loop.fit`, the loop every run uses;
- ``paper-style``: written the way the paper's released scripts train: a torch DataLoader
  over a Dataset that builds a PIL image per sample and applies torchvision transforms
  (AutoAugment, ToTensor, Normalize), ``loss.item()`` and a correct-count ``.item()`` every
  step, softmax outputs accumulated for an ECE at the end of the epoch;
- ``floor``: the bare forward / backward / optimizer step over batches normalised in
  advance (the same batches, in the same order, as weightspace's loop) — what no loop
  can beat.

Each loop runs ``--repeats`` times, interleaved; the best time is kept (the machine is
shared, so the minimum is the least noisy estimate). Ratios are measured in one process.
Without augmentation weightspace and the floor do the same arithmetic, so their test
accuracies must be identical for the same seed; the script checks that.

    .venv/bin/python bench/train_throughput.py [--train-size 5000] [--epochs 1] [--repeats 2]
    .venv/bin/python bench/train_throughput.py --device cuda --model resnet18 --batch-size 512

On CUDA every loop is timed by the wall clock (with a synchronisation at the end), and
weightspace and the floor both use channels-last + bf16 autocast; the paper-style loop
trains in fp32 as the paper's scripts do.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from weightspace.data import load_dataset, make_augment, stratified_subset
from weightspace.models import create_model
from weightspace.threads import set_threads
from weightspace.train import RunConfig, evaluate, expected_calibration_error
from weightspace.train.image import ImageBatches
from weightspace.train.inputs import channel_stats, normalizer, to_input
from weightspace.train.loop import fit

SEED = 0


@dataclass(frozen=True)
class Setup:
    model: str = "cnn-small"
    batch_size: int = 32
    device: str = "cpu"

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def _model(setup: Setup, in_channels: int) -> torch.nn.Module:
    torch.manual_seed(SEED)
    model = create_model(setup.model, num_classes=10, in_channels=in_channels, image_size=28)
    return model.to(setup.device)


class _Clock:
    """Wall and process CPU time of a block (CPU time is less disturbed by other users)."""

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda

    def __enter__(self) -> _Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


Result = tuple[torch.nn.Module, _Clock]


def weightspace_loop(data: dict[str, Any], setup: Setup, *, augment: bool, epochs: int) -> Result:
    model = _model(setup, data["x"].shape[1])
    cfg = RunConfig(
        epochs=epochs, batch_size=setup.batch_size, lr=1e-3, seed=SEED, device=setup.device
    )
    aug = make_augment("auto", in_channels=data["x"].shape[1]) if augment else None
    with _Clock(setup.cuda) as clock:
        source = ImageBatches(
            data["x"], data["y"], data["mean"], data["std"], augment=aug, seed=SEED,
            device=torch.device(setup.device),
        )  # fmt: skip
        fit(model, source, config=cfg, device=setup.device)
    return model, clock


def floor_loop(data: dict[str, Any], setup: Setup, *, augment: bool, epochs: int) -> Result:
    """The bare step; on CUDA with the same channels-last + bf16 autocast as weightspace."""
    del augment  # the floor never augments
    model = _model(setup, data["x"].shape[1])
    # the batches of weightspace's loop: same generator, same permutations, same normalisation
    scale, shift = normalizer(data["mean"], data["std"])
    shuffle = torch.Generator().manual_seed(SEED)
    n = data["x"].shape[0]
    epoch_batches = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=shuffle)
        epoch_batches.append(
            [
                (
                    to_input(data["x"][i], scale, shift, channels_last=setup.cuda).to(setup.device),
                    data["y"][i].to(setup.device),
                )
                for i in perm.split(setup.batch_size)
            ]
        )
    if setup.cuda:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    with _Clock(setup.cuda) as clock:
        for batches in epoch_batches:
            for x, y in batches:
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=setup.cuda):
                    loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return model, clock


class _PilDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """One PIL image per sample, torchvision transforms applied per sample."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Any) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        img = Image.fromarray(self.images[i])  # (H, W) grayscale or (H, W, 3) RGB, uint8
        return self.transform(img), int(self.labels[i])


def paper_loop(data: dict[str, Any], setup: Setup, *, augment: bool, epochs: int) -> Result:
    """As the paper's scripts: per-sample PIL transforms, fp32, ``.item()`` every step."""
    from torchvision import transforms as T

    steps = [T.AutoAugment(T.AutoAugmentPolicy.IMAGENET)] if augment else []
    mean, std = data["mean"].tolist(), data["std"].tolist()
    transform = T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])
    x = data["x"].permute(0, 2, 3, 1).squeeze(-1).numpy()  # (N, H, W[, C]) for PIL
    ds = _PilDataset(x, data["y"].numpy(), transform)
    model = _model(setup, data["x"].shape[1])
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=setup.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(SEED),
        pin_memory=setup.cuda,
    )
    with _Clock(setup.cuda) as clock:
        for _ in range(epochs):
            model.train()
            running_loss, correct, total, probs, targets = 0.0, 0, 0, [], []
            for xb, yb in loader:
                xb, yb = xb.to(setup.device), yb.to(setup.device)
                optimizer.zero_grad()
                out = model(xb)
                loss = criterion(out, yb)
                loss.backward()
                optimizer.step()
                running_loss += loss.item() * yb.size(0)
                correct += (out.argmax(1) == yb).sum().item()
                total += yb.size(0)
                probs.append(torch.softmax(out, dim=1).detach().cpu())
                targets.append(yb.cpu())
            expected_calibration_error(torch.cat(probs), torch.cat(targets))
    return model, clock


LOOPS: dict[str, Callable[..., Result]] = {
    "weightspace": weightspace_loop,
    "paper-style": paper_loop,
    "floor": floor_loop,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--model", default="cnn-small")
    ap.add_argument("--train-size", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu | cuda (timed by wall clock)")
    args = ap.parse_args()
    set_threads(args.threads)
    setup = Setup(model=args.model, batch_size=args.batch_size, device=args.device)

    full = load_dataset(args.dataset, split="train")
    train = stratified_subset(full, args.train_size, seed=0)
    test = stratified_subset(load_dataset(args.dataset, split="test"), 2000, seed=0)
    mean, std = channel_stats(train.images)
    data = {"x": train.images, "y": train.labels, "mean": mean, "std": std}
    n = len(train.labels) * args.epochs
    cases = [
        (name, aug) for aug in (False, True) for name in LOOPS if not (name == "floor" and aug)
    ]
    warm = {"x": data["x"][:256], "y": data["y"][:256], "mean": mean, "std": std}
    for name, aug in cases:  # warm-up: first calls allocate and pick kernels
        LOOPS[name](warm, setup, augment=aug, epochs=1)
    cpu: dict[tuple[str, bool], float] = {}
    wall: dict[tuple[str, bool], float] = {}
    acc: dict[tuple[str, bool], float] = {}
    for _ in range(args.repeats):
        for case in cases:  # interleaved, so that load changes hit every loop alike
            model, clock = LOOPS[case[0]](data, setup, augment=case[1], epochs=args.epochs)
            cpu[case] = min(cpu.get(case, np.inf), clock.cpu)
            wall[case] = min(wall.get(case, np.inf), clock.wall)
            acc[case] = evaluate(
                model, test.images, test.labels, mean=mean, std=std, device=setup.device
            )["acc"]

    # CPU: process CPU time (robust to other users of a shared machine); CUDA: wall clock
    timed = wall if setup.cuda else cpu
    print(
        f"{args.model}, {args.dataset} {len(train.labels)} x {args.epochs} epoch(s), "
        f"batch {args.batch_size}, {args.device}, {args.threads} thread(s), best of "
        f"{args.repeats}; img/s from {'wall-clock' if setup.cuda else 'process CPU'} time"
    )
    print(
        f"{'loop':<13}{'augment':<9}{'img/s':>8}{'÷ floor':>9}{'× paper':>9}"
        f"{'test acc':>10}{'wall img/s':>12}"
    )
    floor = n / timed["floor", False]
    for case in cases:
        ips = n / timed[case]
        paper = n / timed["paper-style", case[1]]
        print(
            f"{case[0]:<13}{'auto' if case[1] else 'none':<9}{ips:>8.0f}{floor / ips:>8.2f}x"
            f"{ips / paper:>8.2f}x{acc[case]:>10.4f}{n / wall[case]:>12.0f}"
        )
    same = acc["weightspace", False] == acc["floor", False]
    print(
        f"identical test accuracy, weightspace vs floor without augmentation: {same} "
        f"({acc['weightspace', False]:.4f} vs {acc['floor', False]:.4f})"
    )


if __name__ == "__main__":
    main()
