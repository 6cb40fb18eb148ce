"""Int8 scoring on the CPU, calibrated on windows of the recordings being scored.

An opt-in precision for long prediction runs (``precision="int8"``; ``predict --precision
int8``): the network's convolutions and linear layer run in 8-bit integers (weights per
output channel, activations per tensor), about twice as fast as bf16 on a CPU with VNNI
(``benchmarks/predict_scale.py`` prints the figure), at the price of scores that differ a
little from the float ones. Training never uses it; ``auto`` never picks it.

Activations need ranges, measured once on real input (calibration). The kit takes them
from the audio the run scores: :func:`int8_calibration` reads a few windows spread over the
first recordings (in the order given), runs the float network over them with observers, and
reports how far the int8 scores land from the float ones on those windows. The observers'
state is a small dict of tensors: a run sends it to every worker, so all workers quantize
identically, and records the calibration in its run information.

Built on ``torch.ao.quantization``'s FX graph mode (x86/oneDNN kernels), which torch marks
deprecated in favour of ``torchao``; where a torch no longer has it, int8 raises a clear error
and the float precisions are unaffected.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import torch
from torch import nn

from ..audio.images import model_image, stack_images
from ..errors import AudioLoadError, PredictionError

__all__ = [
    "INT8_ENGINES",
    "Int8Calibration",
    "calibrate_int8",
    "int8_calibration",
    "int8_engine",
    "int8_model",
    "observers_digest",
    "require_cnn_bundle",
]

#: Quantized kernels in order of preference (x86 combines fbgemm and oneDNN).
INT8_ENGINES = ("x86", "onednn", "fbgemm", "qnnpack")


def require_cnn_bundle(bundle) -> None:
    """Raise unless ``bundle`` is a CNN bundle (int8 quantizes a CNN's network).

    Raises
    ------
    PredictionError
        For an embedding bundle, which scores with its embedder as it is.
    """
    if hasattr(bundle, "score_recording"):
        raise PredictionError(
            "int8 applies to CNN bundles; an embedding bundle scores with its embedder as it is"
        )


def int8_engine() -> str:
    """The quantized engine this torch runs int8 with (and selects it).

    Raises
    ------
    PredictionError
        If this torch has no quantized CPU engine.
    """
    supported = set(torch.backends.quantized.supported_engines)
    for engine in INT8_ENGINES:
        if engine in supported:
            if torch.backends.quantized.engine != engine:
                torch.backends.quantized.engine = engine
            return engine
    raise PredictionError(
        f"int8 scoring needs a quantized CPU engine; this torch has {sorted(supported)}: "
        "use precision bf16 or fp32"
    )


def _fx():
    """``(prepare_fx, convert_fx, qconfig_mapping)``, or a clear error where torch lacks them."""
    try:
        with warnings.catch_warnings():  # the deprecation notice, once per call otherwise
            warnings.simplefilter("ignore")
            from torch.ao.quantization import get_default_qconfig_mapping
            from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    except ImportError as exc:
        raise PredictionError(
            f"int8 scoring needs torch.ao.quantization, which this torch ({torch.__version__}) "
            "does not have: use precision bf16 or fp32"
        ) from exc
    return prepare_fx, convert_fx, get_default_qconfig_mapping(int8_engine())


def _observed(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """A copy of ``model`` with activation and weight observers in place."""
    prepare_fx, _, mapping = _fx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and observer-argument notices
        return prepare_fx(copy.deepcopy(model).eval(), mapping, (example,))


def calibrate_int8(model: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Activation ranges of ``model`` over ``batches``: the state :func:`int8_model` needs.

    Parameters
    ----------
    model : torch.nn.Module
        The float network in eval mode (as the scoring pass prepares it).
    batches : iterable of torch.Tensor
        Model inputs ``(N, C, H, W)``; at least one.

    Returns
    -------
    dict of str to torch.Tensor
        The observers' state (ranges and histograms), a few hundred kB.
    """
    batches = list(batches)
    if not batches:
        raise PredictionError("int8 calibration needs at least one batch of windows")
    observed = _observed(model, batches[0][:1])
    with torch.no_grad():
        for x in batches:
            observed(x.float())
    return {
        k: v.detach().clone()
        for k, v in observed.state_dict().items()
        if "activation_post_process" in k
    }


def int8_model(
    model: nn.Module, example: torch.Tensor, observers: dict[str, torch.Tensor]
) -> nn.Module:
    """The int8 network: ``model`` quantized with the calibrated ``observers``.

    Parameters
    ----------
    model : torch.nn.Module
        The same float network :func:`calibrate_int8` measured (eval mode).
    example : torch.Tensor
        One input of the right shape (traced, not scored).
    observers : dict
        :func:`calibrate_int8`'s result.

    Raises
    ------
    PredictionError
        If the calibration was made on another network.
    """
    _, convert_fx, _ = _fx()
    observed = _observed(model, example)
    wanted = {k for k in observed.state_dict() if "activation_post_process" in k}
    if wanted != set(observers):
        raise PredictionError(
            "this int8 calibration was made for another network "
            f"({len(observers)} observer entries, the model has {len(wanted)})"
        )
    observed.load_state_dict(observers, strict=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_fx(observed).eval()


def observers_digest(observers: dict[str, torch.Tensor]) -> str:
    """A short hash of an int8 calibration's observers."""
    h = hashlib.sha256()
    for k in sorted(observers):
        h.update(k.encode())
        h.update(observers[k].detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Int8Calibration:
    """Activation ranges for an int8 run and what they were measured on.

    Attributes
    ----------
    observers : dict of str to torch.Tensor
        :func:`calibrate_int8`'s result.
    files : list of str
        The recordings the windows came from.
    windows : int
        Windows measured.
    max_abs_diff : float
        Largest difference between an int8 and a float score on those windows.
    same_top_class : float
        Fraction of those windows whose highest-scoring class is the same in both.
    skipped : list of (str, str)
        Recordings that could not be read, and why (they are left to the run to report).
    """

    observers: dict[str, torch.Tensor]
    files: list[str]
    windows: int
    max_abs_diff: float
    same_top_class: float
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """A short hash of the observers (names a calibration in caches and records)."""
        return observers_digest(self.observers)

    def describe(self) -> dict:
        """JSON-ready record (everything but the observers)."""
        return {
            "windows": self.windows,
            "files": list(self.files),
            "max_abs_diff": round(self.max_abs_diff, 6),
            "same_top_class": round(self.same_top_class, 6),
            "digest": self.digest,
        }


def _calibration_windows(pre, files: Sequence[str | os.PathLike], windows: int, max_files: int):
    """Model images of up to ``windows`` windows spread over the first readable recordings."""
    images, used, skipped = [], [], []
    per_file = max(1, math.ceil(windows / max(1, min(len(files), max_files))))
    for f in files:  # short files (clips) give fewer: then more files are read
        if len(images) >= windows:
            break
        try:
            duration = float(sf.info(str(f)).duration)
            span = max(duration - pre.clip_seconds, 0.0)
            offsets = np.linspace(0.0, span, per_file) if span > 0 else [0.0]
            clips = [pre.load_clip(f, float(o)) for o in offsets]
        except (AudioLoadError, RuntimeError, OSError, ValueError) as exc:
            skipped.append((str(f), str(exc)))
            continue
        images += [model_image(pre.image(c), pre.image_shape) for c in clips]
        used.append(str(f))
    return images[:windows], used, skipped


def int8_calibration(
    prepared,
    preprocessing,
    files: Sequence[str | os.PathLike],
    windows: int = 64,
    max_files: int = 8,
    batch_size: int = 16,
) -> Int8Calibration:
    """Calibrate int8 on windows of ``files`` and measure the int8 scores against the float ones.

    Parameters
    ----------
    prepared : PreparedModel
        The float network as :func:`~woodcock_widgets.ml.scoring.prepare_model` gives it.
    preprocessing : Preprocessing
        The bundle's preprocessing.
    files : sequence of path
        The recordings of the run, in the order to draw from: ``windows / max_files``
        windows spread evenly over each readable one (a clip shorter than two windows gives
        one), until ``windows`` windows are read or the files run out.
    windows, max_files, batch_size : int
        Windows measured, recordings they are spread over (at least), windows per forward
        pass.

    Raises
    ------
    PredictionError
        If no window could be read from any of the files.
    """
    from .scoring import score_batch

    images, used, skipped = _calibration_windows(preprocessing, files, windows, max_files)
    if not images:
        names = ", ".join(str(f) for f in list(files)[:3]) or "(none)"
        raise PredictionError(f"int8 calibration found no readable audio among {names}")
    batches = [
        stack_images(images[i : i + batch_size], prepared.channels, False)
        for i in range(0, len(images), batch_size)
    ]
    observers = calibrate_int8(prepared.model, batches)
    # rebuilt from the observers' state, as every worker builds it: the figures below are
    # those of the network the run scores with
    quantized = int8_model(prepared.model, batches[0][:1], observers)
    reference = dataclasses.replace(prepared, dtype=None)  # float32, no autocast
    with_int8 = dataclasses.replace(reference, model=quantized)
    want = np.concatenate([score_batch(reference, x) for x in batches])
    got = np.concatenate([score_batch(with_int8, x) for x in batches])
    return Int8Calibration(
        observers=observers,
        files=used,
        windows=len(images),
        max_abs_diff=float(np.abs(got - want).max()),
        same_top_class=float(np.mean(got.argmax(1) == want.argmax(1))),
        skipped=skipped,
    )
