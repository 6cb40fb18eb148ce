import hashlib
import warnings

import pytest
import torch

from woodcock_widgets.errors import ModelError
from woodcock_widgets.ml import models
from woodcock_widgets.ml.models import build_model, resolve_pretrained_weights


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return tmp_path / "torch_home"


def test_resnet18_classifier_replaced():
    model = build_model("resnet18", 3, pretrained=False)
    assert isinstance(model.fc, torch.nn.Linear)
    assert model.fc.out_features == 3
    assert model.fc.in_features == 512
    out = model.eval()(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, 3)


def test_mobilenet_classifier_replaced():
    model = build_model("mobilenet_v3_small", 2, pretrained=False)
    assert model.classifier[-1].out_features == 2


def test_unknown_architecture_is_named():
    with pytest.raises(ModelError, match="vgg99"):
        build_model("vgg99", 2, pretrained=False)


def test_one_output_is_a_detector_and_none_is_refused():
    model = build_model("resnet18", 1, pretrained=False)  # one sigmoid: multi-label training
    assert model.fc.out_features == 1
    with pytest.raises(ModelError, match="at least 1"):
        build_model("resnet18", 0, pretrained=False)


def test_missing_weights_offline_gives_clear_error(empty_torch_home):
    with pytest.raises(ModelError, match="pretrained=False"):
        build_model("resnet18", 2, pretrained=True, allow_download=False)


def test_missing_weights_random_choice_warns(empty_torch_home):
    with pytest.warns(UserWarning, match="RANDOM weights"):
        model = build_model(
            "resnet18", 2, pretrained=True, allow_download=False, on_missing_weights="random"
        )
    assert model.fc.out_features == 2


def test_weights_file_is_loaded(tmp_path):
    torch.manual_seed(123)
    source = build_model("resnet18", 2, pretrained=False)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    full = torchvision_resnet18_state(state)
    path = tmp_path / "my_weights.pth"
    torch.save(full, path)
    model = build_model("resnet18", 2, weights_path=path)
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert model.fc.out_features == 2


def torchvision_resnet18_state(partial):
    import torchvision

    ref = torchvision.models.resnet18(weights=None).state_dict()
    ref.update(partial)
    return ref


def test_weights_file_missing_or_wrong(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        build_model("resnet18", 2, weights_path=tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(ModelError, match="do not fit"):
        build_model("resnet18", 2, weights_path=bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="cannot read"):
        build_model("resnet18", 2, weights_path=junk)


def test_torch_cache_is_used(empty_torch_home):
    import torchvision

    cache = models._cache_path("resnet18")
    cache.parent.mkdir(parents=True)
    torch.manual_seed(7)
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, cache)
    assert resolve_pretrained_weights("resnet18", allow_download=False) == cache
    model = build_model("resnet18", 2, pretrained=True, allow_download=False)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])


def test_download_checks_hash_and_is_atomic(empty_torch_home, tmp_path, monkeypatch):
    import torchvision

    payload = tmp_path / "payload.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), payload)
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()[:8]
    good = tmp_path / f"resnet18-{digest}.pth"
    payload.rename(good)
    monkeypatch.setitem(models._WEIGHT_URLS, "resnet18", good.as_uri())
    path = resolve_pretrained_weights("resnet18", allow_download=True)
    assert path is not None and path.read_bytes() == good.read_bytes()

    # a file whose content does not match the hash in its name is rejected, nothing cached
    wrong = tmp_path / "resnet34-00000000.pth"
    wrong.write_bytes(b"tampered")
    monkeypatch.setitem(models._WEIGHT_URLS, "resnet34", wrong.as_uri())
    assert resolve_pretrained_weights("resnet34", allow_download=True) is None
    assert list(models._cache_path("resnet34").parent.glob("resnet34*")) == []


def test_offline_env_blocks_download(empty_torch_home, monkeypatch):
    monkeypatch.setenv("WOODCOCK_OFFLINE", "1")
    called = []
    monkeypatch.setattr(models, "_download", lambda *a: called.append(a))
    assert resolve_pretrained_weights("resnet18") is None
    assert called == []


def test_unreachable_network_falls_back(empty_torch_home, monkeypatch):
    monkeypatch.setitem(models._WEIGHT_URLS, "resnet18", "http://127.0.0.1:9/resnet18-f37072fd.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_pretrained_weights("resnet18", allow_download=True, timeout=2) is None
