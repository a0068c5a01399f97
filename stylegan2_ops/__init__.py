"""Custom StyleGAN2 ops: ``upfirdn2d`` and ``fused_bias_act`` / ``fused_leaky_relu``.

Each op has one entry point with an ``impl=`` argument:

* ``"torch"`` -- exact PyTorch implementation (CPU, any device, double backward);
* ``"cuda"``  -- a CUDA plugin compiled lazily with ninja on first use;
* ``"auto"``  -- CUDA for CUDA tensors when the plugin builds, otherwise PyTorch.

The environment variable ``LATENTREENACT_OPS_IMPL`` (``auto``/``cuda``/``torch``) overrides
``impl="auto"``. Nothing is compiled at import time.
"""

from .bias_act import fused_bias_act, fused_leaky_relu
from .upfirdn2d import upfirdn2d

__all__ = ["upfirdn2d", "fused_bias_act", "fused_leaky_relu"]
