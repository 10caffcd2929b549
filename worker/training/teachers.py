"""A frozen teacher ensemble built from finished runs' checkpoints, evaluated in as few launches as possible."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from worker.training.losses import moment_matched_gaussian, split_gaussian
from worker.training.models import build_model
from worker.training.safe_load import load_checkpoint
from xclab.catalog import MODELS, TASKS


def load_member(path: Path, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a run's `model.pt` (spec + weights) and freeze it."""
    if not path.exists():
        raise FileNotFoundError(f"teacher checkpoint {path} does not exist")
    state = load_checkpoint(path, device)
    spec = state["spec"]
    name = spec["model"]["name"]
    options = MODELS[name].options_model.model_validate(spec["model"]["options"])
    model = build_model(
        name,
        num_outputs=state["num_outputs"],
        width=spec["model"]["width"],
        input_shape=tuple(state["input_shape"]),
        **options.model_dump(),
    )
    model.load_state_dict(state["model"])
    model.to(device).eval().requires_grad_(False)
    return model, state


class TeacherEnsemble(nn.Module):
    """K frozen members. Members of one architecture run as a single vmapped call (one launch per layer for
    the whole ensemble instead of K); mixed architectures fall back to a loop."""

    def __init__(
        self, members: list[nn.Module], task: str, data_infos: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__()
        self.data_infos = data_infos or [{} for _ in members]
        if not members:
            raise ValueError("a teacher ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.task = task
        self.target_dims = TASKS[task].num_outputs  # regression: the mean's dimension in each member's output
        self._stacked: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], nn.Module] | None = None
        if len(members) > 1 and len({_signature(m) for m in members}) == 1:
            params, buffers = stack_module_state(members)  # type: ignore[arg-type]
            base = copy.deepcopy(members[0]).to("meta")
            self._stacked = (params, buffers, base)

    @classmethod
    def from_checkpoints(cls, paths: list[Path], device: torch.device) -> TeacherEnsemble:
        loaded = [load_member(p, device) for p in paths]
        tasks = {state["spec"]["task"] for _, state in loaded}
        if len(tasks) != 1:
            raise ValueError(f"teacher checkpoints come from different tasks: {sorted(tasks)}")
        return cls([m for m, _ in loaded], tasks.pop(), [state.get("data_info", {}) for _, state in loaded])

    @torch.no_grad()
    def member_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs of every member, stacked [K, N, outputs]."""
        # On CUDA one vmapped call saves K-1 kernel launches per layer; on the CPU the plain loop is faster.
        if self._stacked is not None and x.is_cuda:
            params, buffers, base = self._stacked
            try:
                call = torch.vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)), in_dims=(0, 0, None))
                return call(params, buffers, x)
            except Exception:
                self._stacked = None  # an op without a batching rule: use the loop from now on
        return torch.stack([m(x) for m in self.members])

    @torch.no_grad()
    def probs(self, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Classification target: the members' softmax(z / T), averaged."""
        return torch.softmax(self.member_outputs(x).float() / temperature, dim=2).mean(0)

    @torch.no_grad()
    def gaussian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Regression target: the moment-matched isotropic Gaussian of the members (mean, log variance)."""
        outs = self.member_outputs(x).float()
        mus, log_vars = zip(*(split_gaussian(o, self.target_dims) for o in outs), strict=True)
        return moment_matched_gaussian(torch.stack(mus), torch.stack(log_vars))


def _signature(model: nn.Module) -> tuple[Any, ...]:
    return (type(model), tuple((k, tuple(v.shape)) for k, v in model.state_dict().items()))
