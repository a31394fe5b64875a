"""Shared by the tests that read the installed Fashion-MNIST (Debian ``dataset-fashion-mnist``)."""

from __future__ import annotations

from pathlib import Path

import pytest

FASHION = Path("/usr/share/datasets/fashion-mnist")
#: skip (naming the missing package) only when the dataset's files are not installed; any
#: other failure to load them is a failure of the test
needs_fashion = pytest.mark.skipif(
    not (FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="dataset-fashion-mnist not installed",
)
