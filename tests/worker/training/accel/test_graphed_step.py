import torch
from torch import nn

from worker.training.accel.graphed_step import GraphedStep


def _setup(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y)


def test_off_cuda_the_step_is_the_plain_eager_step():
    x, y = torch.randn(8, 3, 4), torch.randint(0, 3, (8,))
    model_a, opt_a = _setup(0)
    model_b, opt_b = _setup(0)
    step = GraphedStep(model_a, opt_a, _ce, x, y)
    assert not step.captured
    for _ in range(3):
        loss_a = step(x, y)
        opt_b.zero_grad()
        loss_b = _ce(model_b, x, y)
        loss_b.backward()
        opt_b.step()
        assert torch.equal(loss_a, loss_b.detach())
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_the_step_trains():
    x, y = torch.randn(32, 3, 4), torch.randint(0, 3, (32,))
    model, opt = _setup(1)
    step = GraphedStep(model, opt, _ce, x, y)
    first = step(x, y).item()
    for _ in range(50):
        last = step(x, y).item()
    assert last < first / 2
