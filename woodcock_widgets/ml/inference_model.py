"""An eval-only copy of a network that computes the same scores with less work.

Two exact rewrites of the traced graph (:mod:`torch.fx`), made once when a model is prepared
for scoring (:func:`~woodcock_widgets.ml.scoring.prepare_model`):

* **BatchNorm folded into the convolution before it.** In eval mode a BatchNorm is a fixed
  per-channel scale and shift, which the convolution's weights and bias can carry; the
  network then runs one operator where it ran two (about a fifth less time per window for
  the tutorial's resnet18 at 3x128x128 on a CPU, bf16).
* **The first convolution summed over identical input channels.** The kit's images repeat
  one spectrogram in every channel (``Preprocessing.channels``, 3 for ImageNet-shaped
  models), and a convolution of ``c`` identical channels equals one convolution of a single
  channel with the weights summed over the channels. The prepared model then takes one
  channel: a third of the first layer's work and of the input batch.

Both are the same function up to float rounding. A network that :mod:`torch.fx` cannot trace
is returned as it is. The source network is not changed; layers that are not rewritten are
shared with it, not copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["InferenceModel", "inference_model"]


@dataclass(frozen=True)
class InferenceModel:
    """A rewritten network and what it expects.

    Attributes
    ----------
    model : torch.nn.Module
        The network to score with (eval mode).
    channels : int
        Input channels it takes (1 where the first convolution was summed over identical
        channels, else the source network's).
    folded_batchnorms : int
        BatchNorm layers folded into convolutions.
    """

    model: nn.Module
    channels: int
    folded_batchnorms: int


def _set_submodule(root: nn.Module, target: str, module: nn.Module) -> None:
    """Replace the submodule at dotted path ``target`` of ``root``."""
    parent, _, name = target.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


def _fold_batchnorms(gm: fx.GraphModule) -> int:
    """Fold every eval BatchNorm2d that only follows a Conv2d into it; return the count."""
    modules = dict(gm.named_modules())
    folded = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
            continue
        source = node.args[0] if node.args else None
        if not isinstance(source, fx.Node) or source.op != "call_module":
            continue
        conv, bn = modules.get(source.target), modules[node.target]
        if not isinstance(conv, nn.Conv2d) or len(source.users) != 1:
            continue
        if not bn.track_running_stats or bn.running_mean is None:
            continue
        fused = fuse_conv_bn_eval(conv, bn)
        _set_submodule(gm, source.target, fused)
        modules[source.target] = fused
        node.replace_all_uses_with(source)
        gm.graph.erase_node(node)
        folded += 1
    return folded


def _single_channel_stem(gm: fx.GraphModule, channels: int) -> bool:
    """Sum the first convolution's weights over ``channels`` identical input channels.

    Only when the input feeds nothing but one ungrouped Conv2d taking ``channels`` channels.
    """
    inputs = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1 or len(inputs[0].users) != 1:
        return False
    (user,) = inputs[0].users
    conv = gm.get_submodule(user.target) if user.op == "call_module" else None
    if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or conv.in_channels != channels:
        return False
    if user.args[0] is not inputs[0] or len(user.args) != 1 or user.kwargs:
        return False
    stem = nn.Conv2d(
        1,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        stem.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
        if conv.bias is not None:
            stem.bias.copy_(conv.bias)
    _set_submodule(gm, user.target, stem.eval())
    return True


def inference_model(model: nn.Module, identical_channels: int | None = None) -> InferenceModel:
    """An eval-only copy of ``model`` with BatchNorms folded and, optionally, a 1-channel stem.

    Parameters
    ----------
    model : torch.nn.Module
        The network, in eval mode (its BatchNorms use their running statistics).
    identical_channels : int, optional
        When every input has this many identical channels (the kit's images), the first
        convolution is summed over them and the result takes 1 channel. ``None``: the input
        is left as it is.

    Returns
    -------
    InferenceModel
        The network to score with and the input channels it takes. A network :mod:`torch.fx`
        cannot trace (data-dependent control flow) comes back unchanged.
    """
    channels = int(identical_channels) if identical_channels else _input_channels(model)
    if model.training:
        raise ValueError("inference_model needs a model in eval mode (call model.eval())")
    try:
        gm = fx.symbolic_trace(model)
    except Exception:  # untraceable forward: score with the network as it is
        return InferenceModel(model, channels, 0)
    folded = _fold_batchnorms(gm)
    single = bool(identical_channels) and channels > 1 and _single_channel_stem(gm, channels)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    gm.eval()
    return InferenceModel(gm, 1 if single else channels, folded)


def _input_channels(model: nn.Module) -> int:
    """In-channels of the first Conv2d (3 when there is none)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    return 3
