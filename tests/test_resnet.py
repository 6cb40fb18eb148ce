"""The kit's ResNets are interchangeable with torchvision's, and bundles load without it."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

from woodcock_widgets.ml import resnet
from woodcock_widgets.ml.bundle import ModelBundle
from woodcock_widgets.ml.models import build_model, replace_classifier, replace_input_channels

ARCHS = ["resnet18", "resnet34", "resnet50"]
ROOT = Path(__file__).resolve().parents[1]


def _seeded(build, seed=0):
    torch.manual_seed(seed)
    model = build()
    return model, torch.rand(8)  # the next random numbers show how many were drawn


def _torchvision(arch):
    return getattr(torchvision.models, arch)(weights=None)


def _randomize_batchnorm_stats(model, seed=1):
    """Non-trivial running statistics, so eval-mode BatchNorm is tested too."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.num_batches_tracked.fill_(7)
    return model


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_keys_shapes_and_modules_match_torchvision(arch):
    ours = getattr(resnet, arch)().state_dict()
    theirs = _torchvision(arch).state_dict()
    assert list(ours) == list(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    assert {k: v.dtype for k, v in ours.items()} == {k: v.dtype for k, v in theirs.items()}
    names = [(n, type(m).__name__) for n, m in getattr(resnet, arch)().named_modules()]
    tv_names = [(n, type(m).__name__) for n, m in _torchvision(arch).named_modules()]
    assert [n for n, _ in names] == [n for n, _ in tv_names]
    assert [t for _, t in names[1:]] == [t for _, t in tv_names[1:]]  # ResNet, blocks, layers


@pytest.mark.parametrize("arch", ARCHS)
def test_seeded_random_init_is_bitwise_torchvisions(arch):
    ours, ours_next = _seeded(getattr(resnet, arch))
    theirs, theirs_next = _seeded(lambda: _torchvision(arch))
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs_state[key]), key
    assert torch.equal(ours_next, theirs_next)  # the same amount of randomness consumed


def test_build_model_from_random_weights_is_unchanged():
    """Training from random weights starts where it did when the ResNets were torchvision's."""
    ours, _ = _seeded(lambda: build_model("resnet18", 2, pretrained=False, in_channels=1))
    theirs, _ = _seeded(
        lambda: replace_classifier(replace_input_channels(_torchvision("resnet18"), 1), 2)
    )
    theirs_state = theirs.state_dict()
    assert list(ours.state_dict()) == list(theirs_state)
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs_state[key]), key


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_equals_torchvision_with_the_same_weights(arch):
    theirs = _randomize_batchnorm_stats(_torchvision(arch)).eval()
    ours = getattr(resnet, arch)().eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-6)
    ours.train()
    theirs.train()
    with torch.no_grad():  # batch statistics
        assert torch.allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_forward_equal_after_new_classifier_and_input_channels(arch, tmp_path):
    theirs = _randomize_batchnorm_stats(_torchvision(arch))
    weights = tmp_path / f"{arch}-imagenet.pth"  # stands for torchvision's ImageNet file
    torch.save(theirs.state_dict(), weights)
    ours = build_model(arch, 3, weights_path=weights, in_channels=1).eval()
    theirs = replace_classifier(replace_input_channels(theirs, 1), 3).eval()
    for key in ("conv1.weight", "layer1.0.conv1.weight", "layer4.0.downsample.0.weight"):
        assert torch.equal(ours.state_dict()[key], theirs.state_dict()[key])
    theirs.fc.load_state_dict(ours.fc.state_dict())  # new classifiers draw their own weights
    x = torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = ours(x)
        assert out.shape == (2, 3)
        assert torch.allclose(out, theirs(x), rtol=1e-5, atol=1e-6)


def test_torchvision_weights_and_bundles_load_both_ways():
    theirs = replace_classifier(_torchvision("resnet34"), 2)
    ours = build_model("resnet34", 2, pretrained=False)
    ours.load_state_dict(theirs.state_dict())  # strict: every key, every shape
    theirs.load_state_dict(ours.state_dict())


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_loading_and_running_a_resnet_bundle_does_not_import_torchvision(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False).eval()
    path = ModelBundle(model, "resnet18", {0: "absent", 1: "present"}).save(tmp_path / "m.pt")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    torch.save({"x": x, "y": model(x).detach()}, tmp_path / "io.pt")
    script = (
        "import sys, torch\n"
        "from woodcock_widgets.ml.bundle import ModelBundle\n"
        f"b = ModelBundle.load({str(path)!r})\n"
        f"io = torch.load({str(tmp_path / 'io.pt')!r}, weights_only=True)\n"
        "with torch.no_grad():\n"
        "    assert torch.allclose(b.model(io['x']), io['y'], atol=1e-6)\n"
        "import woodcock_widgets.ml.predict\n"
        "assert 'torchvision' not in sys.modules, 'torchvision was imported'\n"
    )
    r = _run(script)
    assert r.returncode == 0, r.stderr


def test_a_mobilenet_still_comes_from_torchvision():
    model = build_model("mobilenet_v3_small", 2, pretrained=False)
    assert type(model).__module__.startswith("torchvision.")
    assert model.classifier[-1].out_features == 2
