"""The one scoring pass: a bundle's model prepared once, then run over batches of images.

Prediction, review, evaluation during training and the embedders all score through
:func:`score_batch` / :func:`score_batches`, with the device, precision and memory layout
that :mod:`.runtime` picks for training, so a model is scored the way it was trained.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ..audio.preprocessing import stack_images
from .bundle import ModelBundle
from .inference_model import inference_model
from .runtime import pick_precision

__all__ = [
    "PreparedModel",
    "compile_model",
    "prepare_model",
    "score_batch",
    "score_batches",
    "score_images",
]


@dataclass(frozen=True)
class PreparedModel:
    """A bundle's network ready to score: on its device, in eval mode, in its memory layout.

    Made once (:func:`prepare_model`) and shared by every file a process scores; scoring
    never moves or converts it again, so threads may score with it side by side. ``model``
    is the bundle's network rewritten for inference
    (:func:`~woodcock_widgets.ml.inference_model.inference_model`) and ``channels`` the input
    channels it takes: 1 where the bundle's identical image channels were folded into its
    first convolution (:func:`score_batch` then reads the first channel of a wider batch).
    :func:`compile_model` gives a copy whose ``model`` is compiled for batches of exactly
    ``batch_size`` windows (``None``: any size, eager).
    """

    model: torch.nn.Module
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool
    channels: int
    multi_label: bool = False
    batch_size: int | None = None
    compile_seconds: float | None = None
    int8: bool = False


def _resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` → cuda where there is one, else cpu; anything else as torch reads it."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _is_multi_label(bundle: ModelBundle) -> bool:
    """Whether the bundle's outputs are independent sigmoids (a multi-label model)."""
    flag = getattr(bundle, "multi_label", None)
    if flag is None:
        flag = bundle.extra.get("multi_label", False)
    return bool(flag)


def prepare_model(
    bundle: ModelBundle,
    device: str | torch.device = "cpu",
    precision: str = "auto",
    int8_observers: dict[str, torch.Tensor] | None = None,
) -> PreparedModel:
    """Put a bundle's model where and how the trainer runs it (see :func:`score_batches`).

    Parameters
    ----------
    bundle : ModelBundle
        The model.
    device : str or torch.device
        Where to run it; ``auto`` is cuda where available, else cpu.
    precision : {"auto", "fp32", "bf16", "fp16", "int8"}
        Autocast precision; ``auto`` is what the trainer picks for ``device``. ``int8``
        (CPU only, opt-in for long runs) quantizes the network with ``int8_observers``.
    int8_observers : dict, optional
        The activation ranges ``int8`` needs (:func:`~woodcock_widgets.ml.int8.int8_calibration`).

    Returns
    -------
    PreparedModel

    Raises
    ------
    PredictionError
        ``int8`` on another device than the CPU, or without ``int8_observers``.
    """
    device = _resolve_device(device)
    if precision == "int8" and device.type != "cpu":
        from ..errors import PredictionError

        raise PredictionError(f"int8 scoring runs on the CPU only; on {device} use bf16 or fp16")
    channels_last = device.type in ("cpu", "cuda")
    fast = inference_model(bundle.model.to(device).eval(), bundle.preprocessing.channels)
    if precision == "int8":
        return _int8_prepared(bundle, device, fast, int8_observers)
    dtype = pick_precision(device, precision)
    model = fast.model
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return PreparedModel(
        model,
        device,
        dtype,
        channels_last,
        fast.channels,
        _is_multi_label(bundle),
    )


def _int8_prepared(bundle: ModelBundle, device: torch.device, fast, observers) -> PreparedModel:
    """The int8 network of ``fast`` (see :mod:`.int8`)."""
    from ..errors import PredictionError
    from .int8 import int8_model

    if observers is None:
        raise PredictionError(
            "int8 scoring needs activation ranges measured on audio: "
            "woodcock_widgets.ml.int8.int8_calibration (predict --precision int8 does it)"
        )
    h, w = bundle.preprocessing.image_shape
    model = int8_model(fast.model, torch.zeros(1, fast.channels, h, w), observers)
    return PreparedModel(
        model, device, None, True, fast.channels, _is_multi_label(bundle), int8=True
    )


def _fixed_batches(prepared: PreparedModel, x: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
    """``x`` cut into batches of the compiled size, the last padded: ``(batch, real rows)``.

    A compiled model meets one input shape only, so it never compiles again.
    """
    size = prepared.batch_size
    out = []
    for i in range(0, len(x), size):
        part = x[i : i + size]
        n = len(part)
        if n < size:
            pad = part[:1].expand(size - n, *part.shape[1:])
            part = torch.cat([part, pad])
        out.append((part, n))
    return out


def _compiled_layout(prepared: PreparedModel, x: torch.Tensor) -> torch.Tensor:
    """``x`` in the one memory layout a compiled model sees (it guards on the strides).

    One channel is copied to plain contiguous strides: a one-channel tensor counts as
    contiguous in both layouts, so ``contiguous()`` would keep whichever strides it had.
    """
    if prepared.channels_last and x.shape[1] > 1:
        return x.contiguous(memory_format=torch.channels_last)
    if x.shape[1] == 1:
        return torch.empty(x.shape, dtype=x.dtype, device=x.device).copy_(x)
    return x.contiguous()


def score_batch(prepared: PreparedModel, x: torch.Tensor, raw: bool = False) -> np.ndarray:
    """Scores ``(N, n_classes)`` of one input batch: softmax, or sigmoid for multi-label.

    ``raw=True`` gives the model's outputs as they are (e.g. the features of a model whose
    classifier was removed, see :class:`~woodcock_widgets.ml.embedders.BundleEmbedder`).
    A compiled model (:func:`compile_model`) sees ``x`` in batches of its compiled size.
    """
    if x.ndim == 4 and x.shape[1] != prepared.channels and prepared.channels == 1:
        x = x[:, :1]  # the kit's channels are identical; the model's stem takes one
    if prepared.batch_size is not None and len(x) != prepared.batch_size and len(x):
        parts = [score_batch(prepared, b, raw)[:n] for b, n in _fixed_batches(prepared, x)]
        return np.concatenate(parts)
    if prepared.batch_size is not None:
        x = _compiled_layout(prepared, x)
    with torch.no_grad():
        with torch.autocast(
            prepared.device.type,
            dtype=prepared.dtype or torch.float32,
            enabled=prepared.dtype is not None,
        ):
            logits = prepared.model(x.to(prepared.device))
        logits = logits.float()
        if raw:
            return logits.cpu().numpy()
        probs = torch.sigmoid(logits) if prepared.multi_label else torch.softmax(logits, 1)
        return probs.cpu().numpy()


def _torch_compile(model: torch.nn.Module) -> Callable:
    """The model compiled by inductor for a fixed input shape, its weights frozen.

    Freezing (constants folded, BatchNorm folded into the convolutions) measured the fastest
    on the CPU; ``dynamic=False`` because every batch has the compiled size.
    """
    return torch.compile(model, dynamic=False, options={"freezing": True})


def compile_model(
    prepared: PreparedModel, image_shape: tuple[int, int], batch_size: int
) -> PreparedModel:
    """``prepared`` with its model compiled (``torch.compile``) for batches of ``batch_size``.

    For long runs: the compile takes tens of seconds once, then a forward pass is up to about
    a quarter faster on the CPU (1.14-1.18x more audio per CPU-hour end to end at 224 px in
    ``benchmarks/predict_scale.py``). The model is compiled and run once here on a batch of
    zeros; if that fails (no C compiler, an unsupported platform or model), one warning is
    given and ``prepared`` comes back unchanged (the eager pass). Compile with the torch
    thread count the scoring will use: torch compiles again when it changes.

    Parameters
    ----------
    prepared : PreparedModel
        The model as :func:`prepare_model` gives it.
    image_shape : (int, int)
        Height and width of a model image (the bundle's ``preprocessing.image_shape``).
    batch_size : int
        Windows per compiled forward pass; :func:`score_batch` pads a smaller batch to it
        (and cuts a larger one), so the model never compiles again.

    Returns
    -------
    PreparedModel
        With ``batch_size`` and ``compile_seconds`` set, or ``prepared`` itself on failure.
    """
    if prepared.batch_size is not None:
        return prepared
    if prepared.int8:
        warnings.warn(
            "an int8 model is not compiled: scoring with it as it is", RuntimeWarning, stacklevel=2
        )
        return prepared
    batch_size = max(1, int(batch_size))
    t0 = time.perf_counter()
    try:
        compiled = dataclasses.replace(
            prepared, model=_torch_compile(prepared.model), batch_size=batch_size
        )
        h, w = image_shape
        x = _compiled_layout(prepared, torch.zeros(batch_size, prepared.channels, h, w))
        score_batch(compiled, x, raw=True)  # compiles now, not in the middle of a file
    except Exception as exc:  # any compiler failure: eager
        warnings.warn(
            f"torch.compile failed, scoring with the eager model instead "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
            RuntimeWarning,
            stacklevel=2,
        )
        return prepared
    return dataclasses.replace(compiled, compile_seconds=time.perf_counter() - t0)


def score_batches(
    bundle: ModelBundle,
    make_batch: Callable[[bool], Iterable[torch.Tensor]],
    device: str | torch.device = "cpu",
    precision: str = "auto",
    prepared: PreparedModel | None = None,
) -> np.ndarray:
    """Softmax scores of input batches, with the model run the way the trainer runs it.

    Parameters
    ----------
    bundle : ModelBundle
        The model.
    make_batch : callable
        ``make_batch(channels_last)`` returns the input batches ``(N, C, H, W)``, laid out
        channels-last when asked (then no per-batch conversion is needed).
    device : str or torch.device
        Where to run the model.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision; ``auto`` is what the trainer picks for ``device``.
    prepared : PreparedModel, optional
        The model already prepared (or compiled); ``device`` and ``precision`` are then
        not used.

    Returns
    -------
    numpy.ndarray
        ``(n_clips, n_classes)`` scores.
    """
    prepared = prepared or prepare_model(bundle, device, precision)
    out = [score_batch(prepared, x) for x in make_batch(prepared.channels_last)]
    return np.concatenate(out) if out else np.zeros((0, len(bundle.label_dict)), np.float32)


def score_images(
    bundle: ModelBundle,
    images: list[np.ndarray],
    batch_size: int,
    device: str | torch.device = "cpu",
    precision: str = "auto",
    prepared: PreparedModel | None = None,
) -> np.ndarray:
    """Scores of one-channel model images ``(H, W)``, ``batch_size`` at a time.

    Parameters
    ----------
    bundle : ModelBundle
        The model (its preprocessing says how many channels an image is repeated to).
    images : list of numpy.ndarray
        Model images, as :func:`~woodcock_widgets.audio.preprocessing.model_image` gives.
    batch_size : int
        Images per forward pass.
    device : str or torch.device
        Where to run the model.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Autocast precision (see :func:`score_batches`).
    prepared : PreparedModel, optional
        The model already prepared (see :func:`score_batches`).

    Returns
    -------
    numpy.ndarray
        ``(len(images), n_classes)`` scores.
    """
    channels = bundle.preprocessing.channels
    batch_size = max(1, int(batch_size))

    def batches(channels_last: bool):
        for i in range(0, len(images), batch_size):
            yield stack_images(images[i : i + batch_size], channels, channels_last)

    return score_batches(bundle, batches, device, precision, prepared)
