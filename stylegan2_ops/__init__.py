"""Custom StyleGAN2 ops: ``upfirdn2d``, ``fused_bias_act`` / ``fused_leaky_relu`` and ``conv3x3``.

``upfirdn2d`` and ``fused_bias_act`` have one entry point each with an ``impl=`` argument:

* ``"torch"`` -- exact PyTorch implementation (CPU, any device, double backward);
* ``"cuda"``  -- a CUDA plugin compiled lazily with ninja on first use;
* ``"auto"``  -- CUDA for CUDA tensors when the plugin builds, otherwise PyTorch.

The environment variable ``LATENTREENACT_OPS_IMPL`` (``auto``/``cuda``/``torch``) overrides
``impl="auto"``. Nothing is compiled at import time.

``conv3x3`` (a 3x3 convolution, stride 1, padding 1) chooses between ``impl="direct"``
(``F.conv2d``) and ``impl="winograd"`` (Winograd's F(4x4, 3x3) in PyTorch operations);
``"auto"`` takes Winograd on a CPU where it was measured faster.
"""

from .bias_act import fused_bias_act, fused_leaky_relu
from .conv3x3 import conv3x3
from .upfirdn2d import upfirdn2d

__all__ = ["conv3x3", "upfirdn2d", "fused_bias_act", "fused_leaky_relu"]
