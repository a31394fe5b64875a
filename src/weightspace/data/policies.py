"""AutoAugment, RandAugment, TrivialAugmentWide and AugMix with per-sample randomness.

The policy tables (sub-policies, op lists, magnitude bins) are torchvision's own; what
differs from calling the torchvision transform once per image is only speed: every sample
draws its own sub-policy / ops / magnitudes / signs in one vectorised draw, and each op is
then applied once to all the samples that drew it (:mod:`weightspace.data.batch_ops`).
The per-image torchvision loop is kept as ``engine="torchvision"`` for parity checks and
benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from weightspace.config import check_int
from weightspace.data.batch_ops import apply_ops
from weightspace.errors import ConfigError, unknown_choice

POLICY_OPS = ("auto", "rand", "trivial", "augmix")
AUTO_POLICIES = ("imagenet", "cifar10", "svhn")
ENGINES = ("batched", "torchvision")

PolicyFn = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]
Space = dict[str, tuple[torch.Tensor, bool]]


def _int_param(op: str, params: dict[str, Any], key: str, lo: int) -> int:
    v = params[key]
    check_int(f"op {op!r}: {key}", v, minimum=lo)
    return int(v)


def torchvision_transform(op: str, params: dict[str, Any]) -> Any:
    """The validated torchvision transform for policy ``op`` (also the source of its tables)."""
    from torchvision.transforms import autoaugment as aa

    if op == "auto":
        name = str(params["policy"]).lower()
        if name not in AUTO_POLICIES:
            raise unknown_choice("AutoAugment policy", params["policy"], AUTO_POLICIES)
        return aa.AutoAugment(aa.AutoAugmentPolicy(name))
    if op == "rand":
        bins = _int_param(op, params, "num_magnitude_bins", 2)
        mag = _int_param(op, params, "magnitude", 0)
        if mag >= bins:
            raise ConfigError(
                f"op 'rand': magnitude must be < num_magnitude_bins={bins}, got {mag}"
            )
        return aa.RandAugment(
            num_ops=_int_param(op, params, "num_ops", 0), magnitude=mag, num_magnitude_bins=bins
        )
    if op == "trivial":
        return aa.TrivialAugmentWide(
            num_magnitude_bins=_int_param(op, params, "num_magnitude_bins", 2)
        )
    if op == "augmix":
        sev = _int_param(op, params, "severity", 1)
        if sev > 10:
            raise ConfigError(f"op 'augmix': severity must be in 1..10, got {sev}")
        alpha = params["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ConfigError(f"op 'augmix': alpha must be > 0, got {alpha!r}")
        depth = params["chain_depth"]
        if isinstance(depth, bool) or not isinstance(depth, int) or depth == 0 or depth < -1:
            raise ConfigError(
                f"op 'augmix': chain_depth must be -1 (random 1..3) or >= 1, got {depth!r}"
            )
        return aa.AugMix(severity=sev, mixture_width=_int_param(op, params, "mixture_width", 1),
                         chain_depth=depth, alpha=float(alpha))  # fmt: skip
    raise unknown_choice("policy op", op, POLICY_OPS)


def _value_table(
    space: Space, pick: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, M) float64 magnitudes (``pick`` selects the bins) and (K,) signed flags."""
    rows = []
    for mags, _ in space.values():
        rows.append(pick(mags).to(torch.float64) if mags.ndim > 0 else None)
    width = max((r.numel() for r in rows if r is not None), default=1)
    table = torch.zeros(len(rows), width, dtype=torch.float64)
    for k, r in enumerate(rows):
        if r is not None:
            table[k, : r.numel()] = r.reshape(-1)
    return table, torch.tensor([s for _, s in space.values()])


def _signed(mag: torch.Tensor, signed: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    return torch.where(signed & flip, -mag, mag)


class _Batched:
    """Per-sample sampling + grouped application for one policy transform."""

    def __init__(self, op: str, tv: Any) -> None:
        self.op, self.tv = op, tv
        self._cache: dict[tuple[int, int], Any] = {}

    def _space(self, h: int, w: int, bins: int) -> Space:
        if self.op == "trivial":
            return self.tv._augmentation_space(bins)
        return self.tv._augmentation_space(bins, (h, w))

    def __call__(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        return getattr(self, f"_{self.op}")(x, g)

    def _auto(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        key = (x.shape[-2], x.shape[-1])
        if key not in self._cache:
            space = self._space(*key, 10)
            names = tuple(space)
            pol = self.tv.policies  # [((name, p, mag_id), (name, p, mag_id)), ...]
            op = torch.tensor([[names.index(s[0]) for s in sub] for sub in pol])  # (P, 2)
            prob = torch.tensor([[s[1] for s in sub] for sub in pol], dtype=torch.float32)
            mag = torch.tensor([[float(space[s[0]][0][s[2]]) if s[2] is not None else 0.0
                                 for s in sub] for sub in pol], dtype=torch.float64)  # fmt: skip
            signed = torch.tensor([[space[s[0]][1] for s in sub] for sub in pol])
            self._cache[key] = (names, op, prob, mag, signed)
        names, op, prob, mag, signed = self._cache[key]
        b = x.shape[0]
        pid = torch.randint(len(op), (b,), generator=g)  # one sub-policy per sample
        draws = torch.rand((b, 2), generator=g)
        signs = torch.randint(2, (b, 2), generator=g)
        for i in range(2):
            active = draws[:, i] <= prob[pid, i]
            ops = torch.where(active, op[pid, i], -1)
            m = _signed(mag[pid, i], signed[pid, i], signs[:, i] == 0)
            x = apply_ops(x, names, ops, m)
        return x

    def _rand(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        tv = self.tv
        key = (x.shape[-2], x.shape[-1])
        if key not in self._cache:
            space = self._space(*key, tv.num_magnitude_bins)
            self._cache[key] = (tuple(space), *_value_table(space, lambda m: m[tv.magnitude]))
        names, table, signed = self._cache[key]
        b = x.shape[0]
        for _ in range(tv.num_ops):
            ops = torch.randint(len(names), (b,), generator=g)
            flip = torch.randint(2, (b,), generator=g) == 1
            x = apply_ops(x, names, ops, _signed(table[ops, 0], signed[ops], flip))
        return x

    def _trivial(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        key = (0, 0)
        if key not in self._cache:
            space = self._space(0, 0, self.tv.num_magnitude_bins)
            self._cache[key] = (tuple(space), *_value_table(space, lambda m: m))
        names, table, signed = self._cache[key]
        b = x.shape[0]
        ops = torch.randint(len(names), (b,), generator=g)
        level = torch.randint(table.shape[1], (b,), generator=g)
        flip = torch.randint(2, (b,), generator=g) == 1
        return apply_ops(x, names, ops, _signed(table[ops, level], signed[ops], flip))

    def _augmix(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        tv = self.tv
        key = (x.shape[-2], x.shape[-1])
        if key not in self._cache:
            space = self._space(*key, tv._PARAMETER_MAX)
            self._cache[key] = (tuple(space), *_value_table(space, lambda m: m))
        names, table, signed = self._cache[key]
        b = x.shape[0]
        alpha = float(tv.alpha)
        m = torch._sample_dirichlet(torch.full((b, 2), alpha), generator=g)  # (B, 2)
        weights = torch._sample_dirichlet(torch.full((b, tv.mixture_width), alpha), generator=g)
        weights = (weights * m[:, 1:]).to(x.device)  # (B, width)
        mix = m[:, 0].to(x.device).view(-1, 1, 1, 1) * x  # (B, C, H, W) float32
        # the chains are independent given x: run all of them as one batch of width·B
        n = tv.mixture_width * b
        if tv.chain_depth > 0:
            depth = torch.full((n,), tv.chain_depth)
        else:
            depth = torch.randint(1, 4, (n,), generator=g)  # 1..3 ops per chain
        aug = x.repeat(tv.mixture_width, 1, 1, 1)  # (width·B, C, H, W), chain-major
        for step in range(int(depth.max())):
            ops = torch.randint(len(names), (n,), generator=g)
            level = torch.randint(tv.severity, (n,), generator=g)
            flip = torch.randint(2, (n,), generator=g) == 1
            mag = _signed(table[ops, level], signed[ops], flip)
            aug = apply_ops(aug, names, torch.where(step < depth, ops, -1), mag)
        for i, chain in enumerate(aug.split(b)):
            mix.add_(weights[:, i].view(-1, 1, 1, 1) * chain)
        return mix.to(torch.uint8)


def make_policy(
    op: str, params: dict[str, Any], *, in_channels: int, engine: str = "batched"
) -> PolicyFn:
    """A function applying policy ``op`` independently to every image of a uint8 batch."""
    transform = torchvision_transform(op, params)
    if engine == "batched":
        return _Batched(op, transform)
    if engine != "torchvision":
        raise unknown_choice("augmentation engine", engine, ENGINES)

    def per_image(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None:
            return torch.stack([transform(img) for img in x])
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return torch.stack([transform(img) for img in x])

    return per_image
