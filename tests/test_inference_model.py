"""The scoring pass's inference rewrite: BatchNorm folding and the one-channel stem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from woodcock_widgets.audio.preprocessing import Preprocessing
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.inference_model import inference_model
from woodcock_widgets.ml.models import build_model
from woodcock_widgets.ml.scoring import prepare_model, score_batch


def _trained_looking(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BatchNorm statistics and affine weights, so folding them is not a no-op."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            with torch.no_grad():
                m.weight.copy_(1 + 0.3 * torch.randn(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
    return model.eval()


def _grey(n: int, channels: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    one = torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(1))
    return one.expand(-1, channels, -1, -1).contiguous(), one


def test_resnet18_same_scores_with_folded_batchnorms_and_one_channel_stem():
    torch.manual_seed(0)
    model = _trained_looking(build_model("resnet18", 3, pretrained=False))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = inference_model(model, identical_channels=3)
    assert fast.folded_batchnorms == 20  # stem, 16 in the blocks, 3 downsamples
    assert fast.channels == 1
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.model.modules())
    x3, x1 = _grey(4, 3)
    with torch.no_grad():
        want, got = model(x3), fast.model(x1)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # the source network is untouched (the trainer keeps training it)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_without_identical_channels_the_input_is_left_alone():
    torch.manual_seed(0)
    model = _trained_looking(build_model("resnet18", 2, pretrained=False))
    fast = inference_model(model)
    assert fast.channels == 3 and fast.folded_batchnorms == 20
    x = torch.rand(2, 3, 64, 64)  # channels that differ
    with torch.no_grad():
        torch.testing.assert_close(fast.model(x), model(x), rtol=1e-4, atol=1e-4)


def test_mobilenet_folds_too():
    torch.manual_seed(0)
    model = _trained_looking(build_model("mobilenet_v3_small", 2, pretrained=False))
    fast = inference_model(model, identical_channels=3)
    assert fast.folded_batchnorms > 10 and fast.channels == 1
    x3, x1 = _grey(2, 3)
    with torch.no_grad():
        torch.testing.assert_close(fast.model(x1), model(x3), rtol=1e-4, atol=1e-4)


class _Branchy(nn.Module):
    """The input feeds two layers: its channels cannot be folded into one stem."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.skip = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.bn(self.conv(x)) + self.skip(x)


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return self.conv(x)
        return -self.conv(x)


def test_stem_kept_when_the_input_feeds_more_than_one_layer():
    model = _trained_looking(_Branchy())
    fast = inference_model(model, identical_channels=3)
    assert fast.channels == 3 and fast.folded_batchnorms == 1
    x3, _ = _grey(2, 3, 16)
    with torch.no_grad():
        torch.testing.assert_close(fast.model(x3), model(x3), rtol=1e-5, atol=1e-5)


def test_untraceable_model_comes_back_unchanged():
    model = _Untraceable().eval()
    fast = inference_model(model, identical_channels=3)
    assert fast.model is model and fast.channels == 3 and fast.folded_batchnorms == 0


def test_training_mode_is_refused():
    with pytest.raises(ValueError, match="eval mode"):
        inference_model(build_model("resnet18", 2, pretrained=False).train())


def test_prepared_model_scores_one_or_three_channel_batches_alike():
    torch.manual_seed(0)
    model = _trained_looking(build_model("resnet18", 2, pretrained=False))
    bundle = ModelBundle(model, "resnet18", {0: "absent", 1: "present"}, Preprocessing())
    prepared = prepare_model(bundle, "cpu", "fp32")
    assert prepared.channels == 1
    x3, x1 = _grey(3, 3)
    with torch.no_grad():
        want = torch.softmax(model(x3), 1).numpy()
    np.testing.assert_allclose(score_batch(prepared, x3), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(score_batch(prepared, x1), want, rtol=1e-4, atol=1e-5)
