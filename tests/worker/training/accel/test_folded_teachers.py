import pytest
import torch
from torch import nn

from worker.training.accel.folded_teachers import StackedTeachers, eager_member_outputs, fold_batch_norms
from worker.training.models import build_model


def _trained_like(seed: int) -> nn.Module:
    """A small CIFAR ResNet with non-trivial BN statistics, as a trained teacher would have."""
    torch.manual_seed(seed)
    model = build_model("resnet18-cifar", num_outputs=10, width=0.125, input_shape=(3, 32, 32))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_folding_removes_every_batch_norm_and_keeps_the_outputs():
    model = _trained_like(0)
    folded = fold_batch_norms(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "the original must stay untouched"
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-4)


def test_stacked_teachers_match_the_eager_loop():
    members = [_trained_like(seed) for seed in range(3)]
    stacked = StackedTeachers(members, torch.device("cpu"))
    x = torch.randn(5, 3, 32, 32)
    out = stacked(x)
    assert out.shape == (3, 5, 10) and out.dtype == torch.float32
    torch.testing.assert_close(out, eager_member_outputs(members, x), rtol=1e-4, atol=1e-4)


def test_bf16_stacked_teachers_stay_close_to_fp32():
    members = [_trained_like(seed) for seed in range(2)]
    x = torch.randn(8, 3, 32, 32)
    ref = torch.softmax(eager_member_outputs(members, x), dim=2)
    got = torch.softmax(StackedTeachers(members, torch.device("cpu"), dtype=torch.bfloat16)(x), dim=2)
    assert (got - ref).abs().max().item() < 0.05


def test_members_of_different_widths_are_refused():
    narrow = build_model("resnet18-cifar", num_outputs=10, width=0.125, input_shape=(3, 32, 32))
    wide = build_model("resnet18-cifar", num_outputs=10, width=0.25, input_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="one architecture"):
        StackedTeachers([narrow, wide], torch.device("cpu"))
