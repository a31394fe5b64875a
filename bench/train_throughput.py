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
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from weightspace.data import load_dataset, make_augment, stratified_subset
from weightspace.models import create_model
from weightspace.threads import set_threads
from weightspace.train import RunConfig, evaluate, expected_calibration_error
from weightspace.train.inputs import channel_stats, normalizer, to_input
from weightspace.train.loop import fit

SEED = 0


def _model() -> torch.nn.Module:
    torch.manual_seed(SEED)
    return create_model("cnn-small", num_classes=10, in_channels=1, image_size=28)


class _Clock:
    """Wall and process CPU time of a block (CPU time is less disturbed by other users)."""

    def __enter__(self) -> _Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


Result = tuple[torch.nn.Module, _Clock]


def weightspace_loop(data: dict[str, Any], *, augment: bool, epochs: int) -> Result:
    model = _model()
    cfg = RunConfig(epochs=epochs, batch_size=32, lr=1e-3, seed=SEED)
    aug = make_augment("auto", in_channels=1) if augment else None
    with _Clock() as clock:
        fit(
            model, data["x"], data["y"], config=cfg, mean=data["mean"], std=data["std"], augment=aug
        )
    return model, clock


def floor_loop(data: dict[str, Any], *, augment: bool, epochs: int) -> Result:
    del augment  # the floor never augments
    model = _model()
    # the batches of weightspace's loop: same generator, same permutations, same normalisation
    scale, shift = normalizer(data["mean"], data["std"])
    shuffle = torch.Generator().manual_seed(SEED)
    n = data["x"].shape[0]
    epoch_batches = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=shuffle)
        epoch_batches.append(
            [(to_input(data["x"][i], scale, shift), data["y"][i]) for i in perm.split(32)]
        )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    with _Clock() as clock:
        for batches in epoch_batches:
            for x, y in batches:
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

        img = Image.fromarray(self.images[i], mode="L")  # (H, W) uint8
        return self.transform(img), int(self.labels[i])


def paper_loop(data: dict[str, Any], *, augment: bool, epochs: int) -> Result:
    from torchvision import transforms as T

    steps = [T.AutoAugment(T.AutoAugmentPolicy.IMAGENET)] if augment else []
    mean, std = data["mean"].tolist(), data["std"].tolist()
    transform = T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])
    ds = _PilDataset(data["x"][:, 0].numpy(), data["y"].numpy(), transform)
    model = _model()
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with _Clock() as clock:
        _paper_epochs(model, ds, criterion, optimizer, epochs)
    return model, clock


def _paper_epochs(model: Any, ds: Any, criterion: Any, optimizer: Any, epochs: int) -> None:
    loader = torch.utils.data.DataLoader(
        ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(SEED)
    )
    for _ in range(epochs):
        model.train()
        running_loss, correct, total, probs, targets = 0.0, 0, 0, [], []
        for x, y in loader:
            optimizer.zero_grad()
            out = model(x)
            loss = criterion(out, y)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * y.size(0)
            correct += (out.argmax(1) == y).sum().item()
            total += y.size(0)
            probs.append(torch.softmax(out, dim=1).detach())
            targets.append(y)
        expected_calibration_error(torch.cat(probs), torch.cat(targets))


LOOPS: dict[str, Callable[..., Result]] = {
    "weightspace": weightspace_loop,
    "paper-style": paper_loop,
    "floor": floor_loop,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-size", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    set_threads(args.threads)

    train = stratified_subset(load_dataset("fashion-mnist", split="train"), args.train_size, seed=0)
    test = stratified_subset(load_dataset("fashion-mnist", split="test"), 2000, seed=0)
    mean, std = channel_stats(train.images)
    data = {"x": train.images, "y": train.labels, "mean": mean, "std": std}
    n = args.train_size * args.epochs
    cases = [
        (name, aug) for aug in (False, True) for name in LOOPS if not (name == "floor" and aug)
    ]
    warm = {k: v[:256] for k, v in data.items() if k in ("x", "y")} | {"mean": mean, "std": std}
    for name, aug in cases:  # warm-up: first calls allocate and pick kernels
        LOOPS[name](warm, augment=aug, epochs=1)
    cpu: dict[tuple[str, bool], float] = {}
    wall: dict[tuple[str, bool], float] = {}
    acc: dict[tuple[str, bool], float] = {}
    for _ in range(args.repeats):
        for case in cases:  # interleaved, so that load changes hit every loop alike
            model, clock = LOOPS[case[0]](data, augment=case[1], epochs=args.epochs)
            cpu[case] = min(cpu.get(case, np.inf), clock.cpu)
            wall[case] = min(wall.get(case, np.inf), clock.wall)
            acc[case] = evaluate(model, test.images, test.labels, mean=mean, std=std)["acc"]

    print(
        f"cnn-small, Fashion-MNIST {args.train_size} x {args.epochs} epoch(s), batch 32, "
        f"{args.threads} thread(s), best of {args.repeats}; img/s from process CPU time "
        "(wall-clock img/s in the last column)"
    )
    print(
        f"{'loop':<13}{'augment':<9}{'img/s':>7}{'÷ floor':>9}{'× paper':>9}"
        f"{'test acc':>10}{'wall img/s':>12}"
    )
    for case in cases:
        ips = n / cpu[case]
        floor = n / cpu["floor", False]
        paper = n / cpu["paper-style", case[1]]
        print(
            f"{case[0]:<13}{'auto' if case[1] else 'none':<9}{ips:>7.0f}{floor / ips:>8.2f}x"
            f"{ips / paper:>8.2f}x{acc[case]:>10.4f}{n / wall[case]:>12.0f}"
        )
    same = acc["weightspace", False] == acc["floor", False]
    print(
        f"identical test accuracy, weightspace vs floor without augmentation: {same} "
        f"({acc['weightspace', False]:.4f} vs {acc['floor', False]:.4f})"
    )


if __name__ == "__main__":
    main()
