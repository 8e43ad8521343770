"""Generate a small ONNX stand-in for a model we cannot download here: same input and output shapes.

The graph is a 1x1 convolution (3 -> 1 channel, or 3 -> 4 classes for u2net_cloth_seg), so its
output depends on the picture and rembg's real pre- and post-processing run unchanged on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from remove_background_node.catalog import CLOTH_MODEL, ModelSpec


def write(spec: ModelSpec, folder: Path) -> Path:
    """Model spec and a folder -> path of a generated ``<model>.onnx`` with the model's I/O shapes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    size = spec.input_size
    classes = 4 if spec.name == CLOTH_MODEL else 1
    rng = np.random.default_rng(len(spec.name))
    weights = rng.normal(size=(classes, 3, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "weights"], ["output"])],
        f"tiny-{spec.name}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, classes, size, size])],
        [numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # onnxruntime 1.19 reads IR <= 10
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / spec.local_file
    onnx.save(model, path)
    return path
