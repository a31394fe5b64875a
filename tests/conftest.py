"""Shared test set-up: explicit single-threaded torch, no network, headless plotting."""

from __future__ import annotations

import os

os.environ.setdefault("WEIGHTSPACE_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest


@pytest.fixture(autouse=True, scope="session")
def _single_thread() -> None:
    from weightspace.threads import set_threads

    set_threads(int(os.environ["WEIGHTSPACE_THREADS"]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)
