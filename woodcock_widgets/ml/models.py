"""CNN architectures with a new classifier, and pretrained weights resolved offline-safely."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ..data.download import fetch, offline
from ..errors import DownloadError, ModelError
from .resnet import resnet18, resnet34, resnet50

__all__ = [
    "ARCHITECTURES",
    "build_model",
    "resolve_pretrained_weights",
    "replace_classifier",
    "replace_input_channels",
]

#: torchvision ImageNet weight files (the names carry the first hex digits of their SHA-256).
_WEIGHT_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
    "mobilenet_v3_small": "https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth",
}
ARCHITECTURES = tuple(_WEIGHT_URLS)


def _mobilenet_v3_small() -> nn.Module:
    # Only this architecture needs torchvision, whose import costs ~150 MiB per process.
    import torchvision.models as tvm

    return tvm.mobilenet_v3_small(weights=None)


#: Architecture name -> a function building it with random weights (1000 ImageNet classes).
_CONSTRUCTORS = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "mobilenet_v3_small": _mobilenet_v3_small,
}


def _constructor(arch: str):
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}; choose one of {list(ARCHITECTURES)}")
    return _CONSTRUCTORS[arch]


def replace_classifier(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the final layer with ``Linear(in_features, num_classes)`` (in place)."""
    if hasattr(model, "fc") and isinstance(model.fc, nn.Linear):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    elif hasattr(model, "classifier") and isinstance(model.classifier, nn.Sequential):
        last = model.classifier[-1]
        model.classifier[-1] = nn.Linear(last.in_features, num_classes)
    else:
        raise ModelError(f"do not know how to replace the classifier of {type(model).__name__}")
    return model


def replace_input_channels(model: nn.Module, in_channels: int) -> nn.Module:
    """Make the first convolution take ``in_channels`` channels (in place).

    Its weights are averaged over the original channels and shared out again, so a
    pretrained network sees the same response to a grey image given in any channel count.
    """
    if in_channels < 1:
        raise ModelError(f"in_channels must be at least 1, got {in_channels}")
    if isinstance(getattr(model, "conv1", None), nn.Conv2d):
        parent, name = model, "conv1"
    elif hasattr(model, "features") and isinstance(model.features[0][0], nn.Conv2d):
        parent, name = model.features[0], "0"
    else:
        raise ModelError(f"do not know how to change the input channels of {type(model).__name__}")
    old = getattr(parent, name)
    new = nn.Conv2d(
        in_channels,
        old.out_channels,
        old.kernel_size,
        old.stride,
        old.padding,
        old.dilation,
        old.groups,
        old.bias is not None,
    )
    with torch.no_grad():
        mean = old.weight.mean(dim=1, keepdim=True) * (old.in_channels / in_channels)
        new.weight.copy_(mean.expand(-1, in_channels, -1, -1))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    setattr(parent, name, new)
    return model


def _cache_path(arch: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / _WEIGHT_URLS[arch].rsplit("/", 1)[-1]


def _download(url: str, dest: Path, timeout: float) -> None:
    """Download ``url`` to ``dest`` with the kit's one downloader (:func:`data.download.fetch`).

    The SHA-256 must start with the hex digits at the end of the file name. The caller has
    already decided that a download is allowed (``allow_download``).
    """
    prefix = dest.stem.rsplit("-", 1)[-1]
    fetch(url, dest.parent, dest.name, sha256_prefix=prefix, timeout=timeout, allow_network=True)


def resolve_pretrained_weights(
    arch: str,
    weights_path: str | os.PathLike | None = None,
    allow_download: bool | None = None,
    timeout: float = 20.0,
) -> Path | None:
    """Find ImageNet weights for ``arch`` without surprises.

    Order: an explicit file; the torch hub cache; a download (only when allowed and the
    network answers). Returns ``None`` when none can be had.

    Parameters
    ----------
    arch : str
        Architecture name.
    weights_path : str or path-like, optional
        A weights file to use; it must exist.
    allow_download : bool, optional
        Default: allowed unless the environment variable ``WOODCOCK_OFFLINE`` is set (see
        :func:`woodcock_widgets.data.download.offline`).
    timeout : float
        Seconds to wait for the network.
    """
    _constructor(arch)
    if weights_path is not None:
        p = Path(weights_path)
        if not p.is_file():
            raise ModelError(f"pretrained weights file not found: {p}")
        return p
    cached = _cache_path(arch)
    if cached.is_file():
        return cached
    if allow_download is None:
        allow_download = not offline()
    if not allow_download:
        return None
    try:
        _download(_WEIGHT_URLS[arch], cached, timeout)
    except (OSError, DownloadError):
        return None
    return cached


def _load_state_dict(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"cannot read pretrained weights {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"pretrained weights {path} do not hold a state dict")
    return state


def build_model(
    arch: str = "resnet18",
    num_classes: int = 2,
    pretrained: bool = True,
    weights_path: str | os.PathLike | None = None,
    on_missing_weights: str = "error",
    allow_download: bool | None = None,
    in_channels: int = 3,
) -> nn.Module:
    """Build a CNN with its classifier replaced by ``num_classes`` outputs.

    The ResNets are the kit's own (:mod:`.resnet`: torchvision's layout, weights and random
    initialisation, without importing torchvision); ``mobilenet_v3_small`` is torchvision's.

    Parameters
    ----------
    arch : str
        One of :data:`ARCHITECTURES` (the tutorial: ``resnet18``).
    num_classes : int
        Output classes. One output is a one-class detector (one sigmoid, multi-label
        training); a softmax needs two, which the table readers check
        (:func:`~woodcock_widgets.tables.labeled.prepare_windows`, the splits).
    pretrained : bool
        Start from ImageNet weights.
    weights_path : str or path-like, optional
        Explicit ImageNet weights file (implies ``pretrained``).
    on_missing_weights : {"error", "random"}
        When pretrained weights cannot be had: raise :class:`ModelError` with what to do, or
        continue from random weights with a visible warning.
    allow_download : bool, optional
        See :func:`resolve_pretrained_weights`.
    in_channels : int
        Input image channels (``Preprocessing.channels``); see :func:`replace_input_channels`.

    Returns
    -------
    torch.nn.Module
    """
    if on_missing_weights not in ("error", "random"):
        raise ValueError(
            f"on_missing_weights must be 'error' or 'random', got {on_missing_weights!r}"
        )
    if int(num_classes) < 1:
        raise ModelError(f"num_classes must be at least 1, got {num_classes}")
    model = _constructor(arch)()
    if pretrained or weights_path is not None:
        path = resolve_pretrained_weights(arch, weights_path, allow_download)
        if path is None:
            msg = (
                f"ImageNet weights for {arch} are not available (not in the torch cache "
                f"{_cache_path(arch)} and no network to download them). Pass a weights file, "
                "put the file in the cache, or train from random weights (pretrained=False)."
            )
            if on_missing_weights == "error":
                raise ModelError(msg)
            warnings.warn(msg + " Continuing with RANDOM weights.", UserWarning, stacklevel=2)
        else:
            state = _load_state_dict(path)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise ModelError(f"weights in {path} do not fit {arch}: {exc}") from exc
    if int(in_channels) != 3:
        replace_input_channels(model, int(in_channels))
    return replace_classifier(model, int(num_classes))
