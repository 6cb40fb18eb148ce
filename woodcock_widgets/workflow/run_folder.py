"""The run folder of one training run (see :mod:`woodcock_widgets.ml.run_folder`).

:class:`RunFolder` is defined in the ml layer, because the trainer (which must not import
the workflow layer) writes its epochs through it; the workflow and everything above it
import it from here.
"""

from __future__ import annotations

from ..ml.run_folder import RunFolder, int_keys

__all__ = ["RunFolder", "int_keys"]
