"""ONNX models as a :class:`~weightspace.spectral.infer.TensorStore` (``onnx`` is an optional extra).

The weights of an ONNX graph are its initializers and the tensors held by ``Constant`` nodes
(exporters fold some parameters into those). Both are listed in graph order (initializers
first), named by the initializer name or the Constant node's output; layer types follow from
the tensor names and shapes as for state dicts (``infer.py``). A transposed weight (a MatMul
exporter stores (in, out)) has the same spectrum, so no layout guessing is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.errors import CheckpointError


def onnx_tensors(model: Any, *, origin: str) -> dict[str, Any]:
    """``name -> TensorProto`` for the initializers and Constant-node tensors of ``model``."""
    graph = model.graph
    tensors: dict[str, Any] = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type != "Constant":
            continue
        for attr in node.attribute:
            if attr.name == "value" and attr.HasField("t"):
                tensors.setdefault(node.output[0], attr.t)
    if not tensors:
        raise CheckpointError(f"{origin} has no initializers or Constant tensors to analyse")
    return tensors


class OnnxStore:
    """Tensors of an ONNX model file (or an ``onnx.ModelProto``), converted on demand."""

    def __init__(self, source: str | os.PathLike[str] | Any) -> None:
        import onnx

        if isinstance(source, str | os.PathLike):
            self.origin = str(source)
            try:
                model = onnx.load(str(Path(source)))
            except Exception as err:  # any failure is the file's
                raise CheckpointError(
                    f"cannot read {self.origin!r} as an ONNX model ({type(err).__name__}: {err}); "
                    "re-export it with torch.onnx.export"
                ) from None
        else:
            self.origin, model = "the ONNX model", source
        self._t = onnx_tensors(model, origin=self.origin)

    def names(self) -> list[str]:
        return list(self._t)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._t[name].dims)

    def is_float(self, name: str) -> bool:
        import onnx

        kind = self._t[name].data_type
        floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)
        return kind in (*floats, onnx.TensorProto.BFLOAT16)

    def read(self, name: str, rows: slice | None = None) -> np.ndarray:
        from onnx import numpy_helper

        a = numpy_helper.to_array(self._t[name])
        if a.dtype.kind != "f" or a.dtype.itemsize < 4:  # float16 / bfloat16 widen exactly
            a = a.astype(np.float32)
        return np.asarray(a if rows is None else a[rows])
