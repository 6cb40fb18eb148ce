"""A trained CNN bundle of this kit as an embedder: the output of its penultimate layer."""

from __future__ import annotations

import threading

import numpy as np

from woodcock_widgets.errors import EmbeddingError

from .embedder_base import Embedder

__all__ = ["BundleEmbedder"]


def _strip_classifier(model) -> int:
    """Replace a torchvision CNN's last linear layer by ``Identity`` in place; return its width.

    ResNets: ``fc`` (the output of ``avgpool``, flattened, is then the model's output);
    MobileNet/EfficientNet-style models: the last layer of ``classifier``.
    """
    from torch import nn

    if isinstance(getattr(model, "fc", None), nn.Linear):
        dim = int(model.fc.in_features)
        model.fc = nn.Identity()
        return dim
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Linear):
        dim = int(classifier[-1].in_features)
        classifier[-1] = nn.Identity()
        return dim
    raise EmbeddingError(
        f"do not know where the classifier of {type(model).__name__} is (no 'fc' or "
        "'classifier' linear layer): cannot use it as an embedder"
    )


def _weights_digest(bundle) -> str:
    """SHA-256 of a bundle's architecture, preprocessing and weights (names and bytes)."""
    import hashlib
    import json

    h = hashlib.sha256()
    h.update(json.dumps([bundle.arch, bundle.preprocessing.to_dict()], sort_keys=True).encode())
    for key, tensor in sorted(bundle.model.state_dict().items()):
        h.update(key.encode())
        t = tensor.detach().to("cpu").contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class BundleEmbedder(Embedder):
    """A trained CNN bundle of this kit as an embedder: the output of its penultimate layer.

    The network is copied and its classifier replaced by ``Identity`` (for a ResNet, the
    embedding is the flattened ``avgpool`` output: 512 numbers for ``resnet18``). A window is
    turned into the model's input exactly as prediction does it (the bundle's
    :class:`~woodcock_widgets.audio.preprocessing.Preprocessing`: spectrogram, image, resize),
    and batches are run by :func:`woodcock_widgets.ml.predict.score_batch` as the trainer
    runs the model, without the softmax.

    Parameters
    ----------
    bundle_or_path : ModelBundle or path
        A CNN bundle (e.g. ``RUN/best.pt``).
    device : str
        Where to run the network (``auto``: cuda where available).
    precision : {"fp32", "auto", "bf16", "fp16"}
        Autocast precision; float32 by default, so cached embeddings do not depend on the CPU.
    batch_size : int
        Windows per forward pass.

    Attributes
    ----------
    name : str
        ``bundle-<arch>-<first 16 hex digits of the SHA-256 of the weights and preprocessing>``:
        another model (or the same one retrained) gets other cache entries.
    window_seconds, sample_rate : float, int
        The bundle's ``clip_seconds`` and ``sample_rate``.
    dim : int
        Width of the layer before the classifier.

    Raises
    ------
    EmbeddingError
        The bundle holds no CNN (e.g. an embedding bundle) or an unknown architecture.
    BundleError
        The path is not a readable bundle.
    """

    def __init__(
        self,
        bundle_or_path,
        device: str = "cpu",
        precision: str = "fp32",
        batch_size: int = 32,
    ) -> None:
        import copy
        import dataclasses

        from .bundle import ModelBundle
        from .predict import prepare_model

        bundle = bundle_or_path
        if not isinstance(bundle, ModelBundle):
            bundle = ModelBundle.load(bundle_or_path)
        if getattr(bundle, "embedder_info", None) is not None:
            raise EmbeddingError(
                "an embedding bundle holds no CNN to embed with; use its embedder "
                f"({bundle.embedder_info.get('name')}) instead"
            )
        self.bundle = bundle
        pre = bundle.preprocessing
        self.preprocessing = pre
        self.window_seconds = float(pre.clip_seconds)
        self.sample_rate = int(pre.sample_rate)
        self.batch_size = max(1, int(batch_size))
        self.digest = _weights_digest(bundle)
        self.name = f"bundle-{bundle.arch}-{self.digest[:16]}"
        model = copy.deepcopy(bundle.model).eval()
        self.dim = _strip_classifier(model)
        headless = dataclasses.replace(bundle, model=model)
        self._prepared = prepare_model(headless, device, precision)
        self._lock = threading.Lock()

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """Return ``(n, dim)`` float32 features of ``(n, window_samples)`` windows."""
        from woodcock_widgets.audio.clip import Audio
        from woodcock_widgets.audio.images import model_image, stack_images

        from .predict import score_batch

        x = self._check_windows(windows)
        pre, prepared = self.preprocessing, self._prepared
        out = []
        for i in range(0, len(x), self.batch_size):
            images = [
                model_image(pre.image(Audio(w, self.sample_rate)), pre.image_shape)
                for w in x[i : i + self.batch_size]
            ]
            batch = stack_images(images, prepared.channels, prepared.channels_last)
            with self._lock:
                out.append(score_batch(prepared, batch, raw=True))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)
