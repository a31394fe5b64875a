"""Where and with what a run was produced (``provenance.json``)."""

from __future__ import annotations

import platform
import socket
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

import weightspace
from weightspace.train.config import RunConfig


def git_revision() -> str | None:
    """The commit of the source checkout weightspace runs from (``-dirty`` if modified)."""
    root = Path(weightspace.__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev or None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def provenance(
    *,
    config: RunConfig,
    device: torch.device,
    threads: int,
    started: datetime,
    ended: datetime,
    wall_time_s: float,
) -> dict[str, Any]:
    try:
        import torchvision

        tv: str | None = torchvision.__version__
    except ImportError:
        tv = None
    return {
        "weightspace": weightspace.__version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": tv,
        "numpy": np.__version__,
        "device": str(device),
        "device_name": _device_name(device),
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "threads": threads,
        "seed": config.seed,
        "run_id": config.run_id(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "start_time": started.isoformat(),
        "end_time": ended.isoformat(),
        "wall_time_s": wall_time_s,
    }
