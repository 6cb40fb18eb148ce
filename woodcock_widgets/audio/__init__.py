"""Audio layer: clips, spectrograms, model images and the preprocessing settings.

The bottom layer of the kit: it imports only :mod:`woodcock_widgets.errors` and
:mod:`woodcock_widgets.io_utils` (torch only lazily, where a tensor is asked for).
"""

from .clip import Audio
from .preprocessing import Preprocessing
from .spectrogram import Spectrogram

__all__ = ["Audio", "Preprocessing", "Spectrogram"]
