"""Small builders shared by tests."""

from __future__ import annotations

import torch

from latentreenact.models.stylegan2 import StyleGAN2Generator


def tiny_generator(size: int = 16, style_dim: int = 8, n_mlp: int = 2, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> StyleGAN2Generator:
    """A randomly initialised small generator with a non-stock channel table."""
    torch.manual_seed(seed)
    channels = {4: 6, 8: 5, 16: 4, 32: 3, 64: 3}
    g = StyleGAN2Generator(size, style_dim, n_mlp, channels={k: v for k, v in channels.items() if k <= size})
    with torch.no_grad():  # non-zero noise strengths and biases so every path matters
        for name, p in g.named_parameters():
            if name.endswith(("noise.weight", "activate.bias", ".bias")) and "modulation" not in name:
                p.copy_(0.1 * torch.randn_like(p))
    return g.to(dtype).eval()


class InterruptibleEstimator:
    """Base of the tests' fake Net3D backends: counts ``estimate`` calls and raises KeyboardInterrupt on
    call ``interrupt_at`` (1-based; 0 = never) to simulate a killed run; subclasses compute ``labels``."""

    name = "fake"

    def __init__(self, interrupt_at: int = 0, **_: object) -> None:
        self.calls, self.interrupt_at = 0, interrupt_at

    def estimate(self, images, missing="raise"):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return self.labels(images)

    def labels(self, images):  # type: ignore[no-untyped-def]
        raise NotImplementedError
