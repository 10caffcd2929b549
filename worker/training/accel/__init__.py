"""GPU fast paths for the training step: a teacher ensemble folded and stacked into one call, and a training
step captured whole in a CUDA graph. Both fall back to plain eager PyTorch off CUDA, so CPU runs (and the
tests) exercise the same code."""
