"""Saving a LabelRemapper's result: where it goes by default, the write, and when it is stale.

:func:`save_remap` writes the remapped table through
:func:`~woodcock_widgets.tables.labels.save_labels` (atomic, never over the source CSV) and
records what was saved, so the remapper can empty its ``status`` once the controls no longer
match the file (:func:`remap_state`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LabelError
from ..tables.labels import save_labels

__all__ = ["default_save_path", "remap_state", "save_remap"]


def default_save_path(save_path, source_path: Path | None, column: str) -> Path:
    """The path given, else beside the source CSV, else in the working folder."""
    if save_path is not None:
        return Path(save_path)
    if source_path is not None:
        return source_path.with_name(f"{source_path.stem}_{column}.csv")
    return Path(f"labels_{column}.csv")


def remap_state(remapper) -> tuple:
    """What a saved file depends on: column, mapping, class column and name prefix."""
    mapping = tuple(sorted(remapper.mapping.items()))
    return (remapper.column, mapping, remapper.new_column, remapper.name_prefix)


def save_remap(remapper, path: str | os.PathLike | None) -> Path:
    """Write ``remapper.result`` to ``path`` (default: the path field, else the default).

    Sets the remapper's ``saved_path`` and ``status``; a refusal is shown in its error area.
    """
    with remapper.errors.raising():
        if remapper.result is None:
            raise LabelError(
                f"cannot save: value(s) {remapper.unmapped} of column {remapper.column!r} "
                "have no class yet; give each a class in the remapper"
            )
        typed = remapper.save_path_text.value.strip()
        target = Path(path) if path is not None else Path(typed or remapper.default_save_path())
        remapper.saved_path = save_labels(remapper.result, target, source=remapper.source_path)
    remapper._saved_state = remap_state(remapper)
    remapper.status = f"saved {len(remapper.result)} rows to {remapper.saved_path}"
    return remapper.saved_path
