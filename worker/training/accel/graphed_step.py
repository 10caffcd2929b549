"""A whole training step (forward, loss, backward, optimizer step) captured once in a CUDA graph and replayed.

At CIFAR sizes and batch 128 a ResNet-18 step is bound by kernel launches, not arithmetic: replaying a graph
issues the step's hundreds of kernels with one launch. The recipe follows PyTorch's "whole network capture":
warm up on a side stream, capture with static input buffers, copy each new batch into them and replay.

Limits (why the engine does not use it for every run): shapes must be fixed (the last, smaller batch of an
epoch runs eagerly), the learning rate is read at capture time unless it is a tensor, and only optimizers that
support capture (SGD; Adam/AdamW with `capturable=True`) may be used. Off CUDA it simply runs eagerly."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
WARMUP_STEPS = 3


class GraphedStep:
    """`step(x, y) -> loss` (a 0-d tensor; reading it syncs). The model's weights are restored after warm-up
    and the optimizer's state reset, so capture itself does not train the model."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        example_x: torch.Tensor,
        example_y: torch.Tensor,
        autocast: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self.model, self.optimizer, self.loss_fn, self.autocast = model, optimizer, loss_fn, autocast
        self.batch_size = len(example_x)
        self.graph: torch.cuda.CUDAGraph | None = None
        if example_x.is_cuda:
            self._capture(example_x, example_y)

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def _eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.loss_fn(self.model, x, y)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _capture(self, example_x: torch.Tensor, example_y: torch.Tensor) -> None:
        saved = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.static_x, self.static_y = example_x.clone(), example_y.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self._eager(self.static_x, self.static_y)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # Gradients set to None before capture: the captured backward then allocates them from the graph's
        # pool and writes (not accumulates) them on every replay, so no zeroing kernels are needed.
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            with self.autocast():
                self.static_loss = self.loss_fn(self.model, self.static_x, self.static_y)
            self.static_loss.backward()
            self.optimizer.step()
        self.graph = graph
        # Undo the warm-up's training: weights back in place (same storage), optimizer state zeroed.
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(saved[k])
            for state in self.optimizer.state.values():
                for value in state.values():
                    if torch.is_tensor(value) and value.is_floating_point():
                        value.zero_()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.graph is None or len(x) != self.batch_size:
            return self._eager(x, y)
        self.static_x.copy_(x, non_blocking=True)
        self.static_y.copy_(y, non_blocking=True)
        self.graph.replay()
        return self.static_loss.detach()
