import socket
import urllib.request

import pytest
import torch

from woodcock_widgets.audio.preprocessing import Preprocessing
from woodcock_widgets.errors import BundleError
from woodcock_widgets.ml.bundle import BUNDLE_FORMAT, BUNDLE_VERSION, ModelBundle, versions
from woodcock_widgets.ml.models import build_model

LABELS = {0: "scolopax-minor-absent", 1: "scolopax-minor-present"}


@pytest.fixture
def bundle():
    torch.manual_seed(0)
    model = build_model("resnet18", 2, pretrained=False).eval()
    return ModelBundle(
        model,
        "resnet18",
        LABELS,
        Preprocessing(image_shape=(32, 32)),
        metrics={"valid_f1": 0.75},
        extra={"epoch": 3},
    )


def test_round_trip_keeps_everything(bundle, tmp_path):
    path = bundle.save(tmp_path / "model.pt")
    loaded = ModelBundle.load(path)
    assert loaded.label_dict == LABELS
    assert loaded.class_names == ["scolopax-minor-absent", "scolopax-minor-present"]
    assert loaded.preprocessing == bundle.preprocessing
    assert loaded.metrics == {"valid_f1": 0.75}
    assert loaded.extra == {"epoch": 3}
    assert loaded.versions["torch"] == torch.__version__
    assert set(versions()) <= set(loaded.versions)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(bundle.model(x), loaded.model(x))
    assert not loaded.model.training


def test_bundle_is_plain_data(bundle, tmp_path):
    path = bundle.save(tmp_path / "model.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == BUNDLE_FORMAT
    assert raw["format_version"] == BUNDLE_VERSION
    assert all(
        v.dtype == torch.float32 for v in raw["state_dict"].values() if v.is_floating_point()
    )
    assert not list(tmp_path.glob(".*tmp")), "no temp file left behind"


def test_load_never_touches_the_network(bundle, tmp_path, monkeypatch):
    path = bundle.save(tmp_path / "model.pt")

    def refuse(*args, **kwargs):
        raise AssertionError("network access while loading a bundle")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("WOODCOCK_OFFLINE", raising=False)
    assert ModelBundle.load(path).label_dict == LABELS


def test_missing_corrupt_and_foreign_files(bundle, tmp_path):
    with pytest.raises(BundleError, match="not found"):
        ModelBundle.load(tmp_path / "nope.pt")
    path = bundle.save(tmp_path / "model.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:10_000])
    with pytest.raises(BundleError, match="corrupt"):
        ModelBundle.load(truncated)
    foreign = tmp_path / "weights.pt"
    torch.save({"conv1.weight": torch.zeros(3)}, foreign)
    with pytest.raises(BundleError, match="not a woodcock_widgets model bundle"):
        ModelBundle.load(foreign)


def test_newer_format_gives_clear_message(bundle, tmp_path):
    payload = bundle.payload()
    payload["format_version"] = BUNDLE_VERSION + 1
    path = tmp_path / "future.pt"
    torch.save(payload, path)
    with pytest.raises(BundleError, match="newer woodcock_widgets.*Upgrade"):
        ModelBundle.load(path)


def test_mismatched_description_is_reported(bundle, tmp_path):
    import json

    payload = bundle.payload()
    meta = json.loads(payload["meta_json"])
    meta["num_classes"] = 5
    payload["meta_json"] = json.dumps(meta)
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(BundleError, match="does not match"):
        ModelBundle.load(path)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    torch.save({"format": BUNDLE_FORMAT, "payload": _Evil(str(marker))}, path)
    with pytest.raises(BundleError, match="refusing"):
        ModelBundle.load(path)
    assert not marker.exists()
