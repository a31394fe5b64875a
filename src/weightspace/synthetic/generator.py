"""The built-in, offline class-conditional generator: a small convolutional CVAE.

Why a conditional VAE: it trains in well under a minute per few thousand 28×28 images on
one CPU thread and samples in one forward pass, so a study can make its own synthetic data
without downloads or a GPU. Its samples are smoother (less detailed) than a diffusion
model's — which is itself a kind of diversity the study measures; the report shows a
sample grid and per-class fidelity/coverage so the quality is never hidden.

Architecture (for C×H×W images with H, W divisible by 4)::

    encoder: x (B,C,H,W) -conv4s2-> (B,32,H/2,W/2) -conv4s2-> (B,64,H/4,W/4) -flatten,‖y-> μ, log σ² (B,Z)
    decoder: z‖y (B,Z+K) -linear-> (B,64,H/4,W/4) -deconv4s2-> (B,32,H/2,W/2) -deconv4s2-> (B,C,H,W) sigmoid

Loss: Bernoulli log-likelihood of pixels in [0,1] (summed) + KL(q(z|x,y) ‖ N(0, I)).

Sampling does not draw z from the N(0, I) prior: a small conditional VAE learns to put the
class into z as well and then largely ignores y, so prior samples drift between classes.
Instead, after training we fit one Gaussian per class to the posterior means of that class's
real images (ex-post density estimation, Ghosh et al. 2020) and decode z ~ N(m_c, T²·Σ_c)
together with y = c. This keeps samples on the class's part of the latent space.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from weightspace.data.imageset import ImageSet
from weightspace.errors import ConfigError, DataError
from weightspace.models import create_model
from weightspace.train.config import RunConfig
from weightspace.train.image import ImageBatches
from weightspace.train.inputs import channel_stats
from weightspace.train.loop import fit
from weightspace.train.metrics import predict_logits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings of the built-in generator (part of the synthetic cache key)."""

    kind: str = "cvae"
    latent_dim: int = 16
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    temperature: float = 1.0  # scale of the prior noise when sampling
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind != "cvae":
            raise ConfigError(f"unknown generator kind {self.kind!r}; valid: cvae")
        for name in ("latent_dim", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"generator {name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or not self.temperature > 0:
            raise ConfigError("generator lr and temperature must be > 0")


class CVAE(nn.Module):
    def __init__(self, channels: int, height: int, width: int, num_classes: int, latent: int):
        super().__init__()
        if height % 4 or width % 4:
            raise DataError(
                f"the built-in generator needs H and W divisible by 4, got {height}×{width}"
            )
        self.shape = (64, height // 4, width // 4)
        flat = 64 * (height // 4) * (width // 4)
        self.num_classes = num_classes
        self.enc = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU()
        )
        self.to_stats = nn.Linear(flat + num_classes, 2 * latent)
        self.from_z = nn.Linear(latent + num_classes, flat)
        # per-class latent Gaussians fitted after training: means (K, Z), Cholesky factors (K, Z, Z)
        self.class_mean: torch.Tensor
        self.class_chol: torch.Tensor
        self.register_buffer("class_mean", torch.zeros(num_classes, latent))
        self.register_buffer("class_chol", torch.eye(latent).repeat(num_classes, 1, 1))
        self.dec = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.from_z(torch.cat([z, F.one_hot(y, self.num_classes).float()], 1))
        return self.dec(h.view(-1, *self.shape))  # logits (B, C, H, W)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc(x).flatten(1)  # (B, 64·H/4·W/4)
        stats = self.to_stats(torch.cat([h, F.one_hot(y, self.num_classes).float()], 1))
        mu, logvar = stats.chunk(2, 1)  # (B, Z) each
        return mu, logvar

    def forward(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, y)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z, y), mu, logvar

    @torch.no_grad()
    def fit_class_latents(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Fit N(m_c, Σ_c) to the posterior means of each class's real images."""
        self.eval()
        mus = torch.cat(
            [
                self.encode(x.float() / 255.0, y)[0]
                for x, y in zip(images.split(1024), labels.split(1024), strict=True)
            ]
        )  # (N, Z)
        eye = torch.eye(mus.shape[1], dtype=torch.float64)
        for c in range(self.num_classes):
            m = mus[labels == c].double()  # (n_c, Z)
            cov = torch.cov(m.T) if len(m) > 1 else eye
            self.class_mean[c] = m.mean(0).float()
            self.class_chol[c] = torch.linalg.cholesky(cov + 1e-4 * eye).float()


def train_generator(real: ImageSet, config: GeneratorConfig) -> tuple[CVAE, list[float]]:
    """Fit the CVAE on ``real``; returns the model and the mean loss per epoch (nats/image)."""
    torch.manual_seed(config.seed)
    c, h, w = real.images.shape[1:]
    model = CVAE(c, h, w, real.num_classes, config.latent_dim)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    n = len(real)
    losses = []
    start = time.perf_counter()
    for _ in range(config.epochs):
        total = torch.zeros(())
        for idx in torch.randperm(n, generator=gen).split(config.batch_size):
            x = real.images[idx].float() / 255.0  # (B, C, H, W) in [0, 1]
            logits, mu, logvar = model(x, real.labels[idx])
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum()
            loss = (rec + kl) / len(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        losses.append(float(total) / n)  # one host sync per epoch
    model.fit_class_latents(real.images, real.labels)
    log.info(
        "generator trained: %d epochs in %.1fs, final loss %.1f",
        config.epochs,
        time.perf_counter() - start,
        losses[-1],
    )
    return model, losses


@torch.no_grad()
def sample(
    model: CVAE, per_class: int, *, temperature: float, seed: int, classes: tuple[str, ...]
) -> ImageSet:
    """``per_class`` samples of every class, as a uint8 ImageSet (class-major order)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    k = model.num_classes
    labels = torch.arange(k).repeat_interleave(per_class)  # (K·per_class,)
    out = []
    for chunk in labels.split(1024):
        latent = int(model.class_mean.shape[1])
        eps = torch.randn(len(chunk), latent, 1, generator=gen) * temperature  # (B, Z, 1)
        z = model.class_mean[chunk] + (model.class_chol[chunk] @ eps).squeeze(-1)  # (B, Z)
        out.append((torch.sigmoid(model.decode(z, chunk)) * 255).round().to(torch.uint8))
    return ImageSet(images=torch.cat(out), labels=labels, classes=classes, name="synthetic:builtin")


def train_classifier(
    real: ImageSet, *, seed: int, epochs: int = 3
) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A ``cnn-small`` classifier on real data (the filter's judge and the quality encoder).

    Returns the model and the normalisation mean/std it was trained with.
    """
    torch.manual_seed(seed)
    h, _w = real.image_size
    model = create_model(
        "cnn-small", num_classes=real.num_classes, in_channels=real.in_channels, image_size=h
    )
    mean, std = channel_stats(real.images)
    cfg = RunConfig(epochs=epochs, batch_size=64, lr=1e-3, seed=seed, ood=False)
    fit(model, ImageBatches(real.images, real.labels, mean, std, seed=seed), config=cfg)
    model.eval()
    return model, mean, std


def intended_class_confidence(
    classifier: nn.Module, synth: ImageSet, *, mean: torch.Tensor, std: torch.Tensor
) -> np.ndarray:
    """Softmax probability of each sample's intended class, 0 where it is not the arg-max."""
    probs = torch.softmax(predict_logits(classifier, synth.images, mean=mean, std=std), 1)  # (N, K)
    p = probs.gather(1, synth.labels[:, None]).squeeze(1)
    agree = probs.argmax(1) == synth.labels
    return torch.where(agree, p, torch.zeros_like(p)).double().numpy()
