"""The contract between matrix extraction and the spectral fits.

Extraction (``spectral/extract.py``) turns a model or a weights file into a stream of
:class:`LayerSpec`; the analysis (``spectral/analyze.py``) turns each into one table row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Row order: layers appear in the order extraction yields them, which is module
# registration order (``model.named_modules()``) for a torch module and the file's own
# tensor order (index order for sharded safetensors) for weight files.


@dataclass(frozen=True)
class LayerSpec:
    """One analysable (or skipped) layer.

    ``load()`` returns the weight slices as an array shaped ``(S, N, M)`` with ``N >= M``
    (transposed where needed, possibly as a view): S = 1 for dense matrices, S = prod(kernel)
    for convolutions (one slice per kernel position). Its dtype is the exact widening of the
    stored one (float64 stays float64; float32, fp16 and bf16 give float32) and it may be a
    read-only memory map: callers that need float64 or write into it call
    ``esd.as_slices`` (float64, C-contiguous). Loading is deferred so that a model larger
    than memory can be analysed layer by layer.
    """

    layer_id: int  # WeightWatcher-compatible: index in model.named_modules() (0 = the root)
    name: str  # module class name, e.g. "Conv2d", "Linear" (WeightWatcher's ``name``)
    longname: str  # module path, e.g. "layer1.0.conv1"; split parts get ".q", ".k", ".v", ...
    layer_type: (
        str  # "linear" | "conv1d" | "conv2d" | "conv3d" | "embedding" | "attention" | "rnn" | ...
    )
    load: Callable[[], np.ndarray] | None = None  # None for skipped layers
    # WeightWatcher's conv2d_norm: pooled conv slices are multiplied by sqrt(1/2) in compat mode.
    conv_slices: bool = False
    status: str = "pending"  # "pending" until analysed; "skipped" with a reason otherwise
    reason: str = ""
    extra: dict[str, object] = field(default_factory=dict)
