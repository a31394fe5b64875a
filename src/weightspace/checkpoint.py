"""Weight files: the one safe state-dict reader and the file digest, below every stage.

``models``, ``spectral``, ``train`` and ``diversity`` all read weights through here, so a
checkpoint's key rule is the same everywhere: a mapping of name -> tensor, or a checkpoint
dict whose ``state_dict`` / ``model`` / ``module`` / ``model_state_dict`` entry holds one
(:data:`NESTED_KEYS`, first match); entries that are not tensors (metadata) are dropped.
Torch files are read with ``weights_only=True`` only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from weightspace.errors import CheckpointError

if TYPE_CHECKING:
    import torch
# torch is imported where a torch file is read: reading safetensors/.npz weights never loads
# it (importing torch alone makes a process ~0.7 GB larger)

log = logging.getLogger(__name__)

NESTED_KEYS = ("state_dict", "model", "module", "model_state_dict")


def file_digest(path: str | os.PathLike[str], length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of the file at ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict in a ``.safetensors`` or torch file (see the module docstring)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"weights file {str(path)!r} does not exist; check the path")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            return load_file(str(path))
        except Exception as err:  # truncated or not a safetensors file
            raise CheckpointError(
                f"cannot read {str(path)!r} as safetensors ({err}); the file is truncated or "
                "not a .safetensors file"
            ) from None
    import torch

    tensors = unwrap_state_dict(torch_load(path), origin=str(path))
    return {k: torch.as_tensor(v) for k, v in tensors.items()}


def is_array(v: Any) -> bool:
    """A numpy array or a torch tensor."""
    if isinstance(v, np.ndarray):
        return True
    torch = sys.modules.get("torch")  # not loaded: v cannot be a tensor
    return torch is not None and isinstance(v, torch.Tensor)


def unwrap_state_dict(obj: Any, *, origin: str) -> dict[str, Any]:
    """The ``name -> tensor`` mapping inside ``obj`` (a state dict or a checkpoint dict)."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"{origin} holds a {type(obj).__name__}, not a state dict; save "
            "model.state_dict() (torch.save) or use safetensors.torch.save_file"
        )
    for key in NESTED_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(is_array(v) for v in inner.values()):
            log.info("%s: using the nested %r entry", origin, key)
            obj = inner
            break
    tensors = {str(k): v for k, v in obj.items() if is_array(v)}
    if not tensors:
        keys = ", ".join(map(repr, list(obj)[:10]))
        raise CheckpointError(
            f"{origin} holds no tensors (top-level keys: {keys}); expected a state dict or a "
            f"checkpoint dict with one of {', '.join(NESTED_KEYS)} holding it"
        )
    return tensors


def torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)``, memory-mapped when the format allows; a pickle that
    needs code to run is refused, never executed; any failure is a :class:`CheckpointError`."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err).lower():
                    raise
                # legacy (non-zip) serialization cannot be memory-mapped
                return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "global" in str(err).lower():  # the pickle names a callable: code would run
            raise CheckpointError(
                f"refusing to load {str(path)!r}: it is a pickle that needs to run code (it "
                "references objects other than tensors and plain containers), and unpickling "
                "untrusted code cannot be done safely. Fix: in the environment that made it, save the "
                "weights with safetensors.torch.save_file(model.state_dict(), 'model.safetensors') "
                "or torch.save(model.state_dict(), 'model.pt')"
            ) from None
        raise _unreadable(path, err) from None
    except Exception as err:  # garbage, truncation, wrong format: any failure is the file's
        raise _unreadable(path, err) from None


def _unreadable(path: Path, err: Exception) -> CheckpointError:
    lines = [ln for ln in str(err).splitlines() if ln.strip()]
    detail = next((ln for ln in lines if "Unsupported" in ln), lines[0] if lines else "")
    return CheckpointError(
        f"cannot read {str(path)!r} as a torch checkpoint ({type(err).__name__}: {detail}); "
        "the file is truncated, not a torch.save file, or a pickle that the safe "
        "(weights_only) loader rejects (it was not executed). Re-export the weights as "
        ".safetensors (safetensors.torch.save_file) or with torch.save(model.state_dict())"
    )
