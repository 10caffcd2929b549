"""The renderer's domain-gap variant: what it leaves out, and that XCL-GAN samples it unless told otherwise."""

from __future__ import annotations

import torch

from worker.training.data import gaze_input, input_generator
from worker.training.data.eye_renderer import render, sample_batch, sample_people
from worker.training.data.gaze_domains import GAP, ORACLE
from worker.training.methods.base import MethodContext
from worker.training.methods.xcl_gan import generated_sampler
from xclab.catalog import TASKS
from xclab.spec import RunSpec, check_spec


def test_gap_persons_come_from_a_narrower_population() -> None:
    oracle = sample_people(500, torch.Generator().manual_seed(0), domain=ORACLE)
    gap = sample_people(500, torch.Generator().manual_seed(0), domain=GAP)
    for name in ("skin", "iris_dark", "sclera", "eye_open", "gamma"):
        lo, hi = GAP.ranges[name]
        values = getattr(gap, name)
        assert lo <= values.min() and values.max() <= hi
        assert values.std() < 0.6 * getattr(oracle, name).std()
    assert torch.all(gap.light_strength == 0) and torch.all(gap.skin_texture == 0)


def test_gap_images_vary_less_in_brightness() -> None:
    # Same persons and orientations: the oracle's nuisances (glints, light gain, exposure) only add variation.
    people = sample_people(64, torch.Generator().manual_seed(1), domain=GAP)
    gaze = torch.zeros(64, 2)
    flat = render(gaze, gaze, people, torch.Generator().manual_seed(2), GAP)
    lit = render(gaze, gaze, people, torch.Generator().manual_seed(2), ORACLE)
    assert flat.shape == lit.shape == (64, 1, 36, 60)
    # Per-image brightness varies less without exposure, gain and light jitter.
    assert flat.mean((1, 2, 3)).std() < 0.8 * lit.mean((1, 2, 3)).std()


def test_the_two_registered_renderers_differ_and_are_deterministic() -> None:
    oracle, gap = input_generator("eye-renderer"), input_generator("eye-renderer-gap")
    a = gap(16, torch.Generator().manual_seed(3))
    assert torch.equal(a, gap(16, torch.Generator().manual_seed(3)))
    images, _, pose = sample_batch(16, torch.Generator().manual_seed(3), return_head_pose=True, domain=GAP)
    assert torch.equal(a, gaze_input.with_pose(images, pose))  # model inputs: image + head-pose row
    assert not torch.equal(a, oracle(16, torch.Generator().manual_seed(3)))


def _sampler_draw(params: dict[str, object]) -> torch.Tensor:
    ctx = MethodContext(TASKS["synthetic-gaze"], 2, params, torch.Generator())
    return generated_sampler(ctx, "xcl-gan")(8, torch.Generator().manual_seed(4))


def test_xcl_gan_samples_the_gap_renderer_by_default_and_the_oracle_only_when_named() -> None:
    gap = input_generator("eye-renderer-gap")(8, torch.Generator().manual_seed(4))
    oracle = input_generator("eye-renderer")(8, torch.Generator().manual_seed(4))
    assert torch.equal(_sampler_draw({}), gap)
    assert torch.equal(_sampler_draw({"renderer": "gap"}), gap)
    assert torch.equal(_sampler_draw({"renderer": "oracle"}), oracle)


def test_oracle_renderer_is_refused_where_there_is_no_renderer() -> None:
    spec = RunSpec.model_validate(
        {
            "task": "digits",
            "model": {"name": "small-cnn"},
            "method": {"name": "xcl-gan", "renderer": "oracle", "generator_run": 3},
            "teachers": [1],
        }
    )
    issues = check_spec(spec)
    assert any(i.loc == ("method", "renderer") and "remove renderer" in i.msg for i in issues)
