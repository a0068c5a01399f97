"""Deprecated location: the ONNX importer is :mod:`latentreenact.checkpoints.onnx_import`."""

import warnings

from ..checkpoints.onnx_import import OnnxGraphModule, UnsupportedOnnxError, import_onnx

__all__ = ["OnnxGraphModule", "UnsupportedOnnxError", "import_onnx"]

warnings.warn("latentreenact.identity.onnx_import moved to latentreenact.checkpoints.onnx_import",
              DeprecationWarning, stacklevel=2)
