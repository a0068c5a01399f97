"""Evaluation harness for reenactment (``latentreenact eval reenact``): self- and cross-reenactment over
video folders or image pairs, the paper's metrics (``latentreenact.metrics``), and two baselines
(identity: output = source; warp: a landmark-driven piecewise-affine warp of the source)."""
