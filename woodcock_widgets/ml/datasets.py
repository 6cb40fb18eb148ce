"""Datasets that turn label-table rows into model-ready spectrogram tensors, with a cache."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..audio.preprocessing import Preprocessing, stack_images
from ..errors import AudioLoadError, LabelError
from ..tables.labels import LabelMap, check_label_column

__all__ = ["AudioClipDataset", "SingleTargetAudioDataset", "Augmentation"]

DEFAULT_CACHE_BYTES = 1 << 30


class Augmentation:
    """Spectrogram-image augmentation: random time shift, one time mask and one frequency mask.

    Parameters
    ----------
    max_shift : float
        Largest circular time shift as a fraction of the image width.
    max_time_mask, max_freq_mask : float
        Largest masked band as a fraction of the width / height.
    """

    def __init__(
        self, max_shift: float = 0.1, max_time_mask: float = 0.1, max_freq_mask: float = 0.1
    ) -> None:
        self.max_shift = max_shift
        self.max_time_mask = max_time_mask
        self.max_freq_mask = max_freq_mask

    def __call__(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a ``(C, H, W)`` image with a seeded generator (returns a new tensor)."""
        _, h, w = image.shape

        def draw(n: int) -> int:
            return int(torch.randint(0, max(n, 0) + 1, (1,), generator=generator))

        out = torch.roll(image, shifts=draw(int(self.max_shift * w)), dims=2)
        floor = float(out.min())
        tw, fh = draw(int(self.max_time_mask * w)), draw(int(self.max_freq_mask * h))
        if tw:
            t0 = draw(w - tw)
            out[:, :, t0 : t0 + tw] = floor
        if fh:
            f0 = draw(h - fh)
            out[:, f0 : f0 + fh, :] = floor
        return out

    def to_dict(self) -> dict:
        """Settings, for the run's config."""
        return dict(
            max_shift=self.max_shift,
            max_time_mask=self.max_time_mask,
            max_freq_mask=self.max_freq_mask,
        )


class AudioClipDataset(torch.utils.data.Dataset):
    """Rows of a label table as ``(image_tensor, label)`` pairs.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per clip.
    label_dict : mapping of int to str, optional
        Code → class name. Needed when ``label_column`` holds class names; kept for the
        model bundle.
    label_column : str, optional
        Integer codes (or class names found in ``label_dict``). ``None`` for unlabeled clips
        (the label is then -1).
    filename_column : str
        Audio file paths.
    preprocessing : Preprocessing, optional
        Settings; default: the tutorial's.
    augment : bool or Augmentation
        Augment images (training only). Augmentation runs after the cache, so the cache
        stays valid.
    cache : bool
        Keep each computed image in memory (float16, one channel) so later epochs decode
        nothing.
    cache_bytes : int
        Stop adding to the cache beyond this many bytes.
    seed : int
        Seed for augmentation; draws depend on (seed, epoch, index) only.
    offset_column : str, optional
        Start time (s) of each clip within its file; default 0.
    target_columns : sequence of str, optional
        Multi-label targets: the 0/1 class columns, in output order (``label_dict`` then
        names them ``0..k-1``). Labels are then float ``(k,)`` rows instead of codes, and
        ``label_column`` is not read.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        label_dict: Mapping[int, str] | None = None,
        label_column: str | None = "NumericLabels",
        filename_column: str = "filename",
        preprocessing: Preprocessing | None = None,
        augment: bool | Augmentation = False,
        cache: bool = True,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        seed: int = 0,
        offset_column: str | None = None,
        target_columns: Sequence[str] | None = None,
    ) -> None:
        if filename_column not in df.columns:
            raise LabelError(f"table has no column {filename_column!r}; it has {list(df.columns)}")
        if offset_column is not None and offset_column not in df.columns:
            raise LabelError(f"table has no column {offset_column!r}; it has {list(df.columns)}")
        self.preprocessing = preprocessing or Preprocessing()
        self.files = np.asarray(df[filename_column].astype(str).to_numpy(), dtype=np.str_)
        self.row_ids = np.asarray(df.index)
        self.offsets = np.asarray(df[offset_column], dtype=np.float64) if offset_column else None
        self.label_map = LabelMap.from_label_dict(label_dict) if label_dict else None
        self.target_columns = list(target_columns) if target_columns is not None else None
        self.label_column = None if self.target_columns is not None else label_column
        if self.target_columns is not None:
            self.labels = self._encode_targets(df, self.target_columns)
        else:
            self.labels = self._encode_labels(df, label_column)
        if isinstance(augment, Augmentation):
            self.augmentation: Augmentation | None = augment
        else:
            self.augmentation = Augmentation() if augment else None
        self.cache_enabled = bool(cache)
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[int, torch.Tensor] = {}
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self.seed = int(seed)
        self.epoch = 0

    def _encode_labels(self, df: pd.DataFrame, column: str | None) -> np.ndarray:
        if column is None:
            return np.full(len(df), -1, dtype=np.int64)
        check_label_column(df, column)
        values = df[column]
        n_classes = len(self.label_map) if self.label_map else None
        if pd.api.types.is_numeric_dtype(values):
            codes = values.to_numpy()
            if not np.all(np.equal(np.mod(codes, 1), 0)):
                raise LabelError(f"column {column!r} must hold integer class codes")
            codes = codes.astype(np.int64)
            bad = (codes < 0) | ((codes >= n_classes) if n_classes else False)
            if np.any(bad):
                rows = list(df.index[bad][:5])
                raise LabelError(
                    f"column {column!r} has codes outside 0..{(n_classes or 1) - 1} "
                    f"in row(s) {rows}"
                )
            return codes
        if self.label_map is None:
            raise LabelError(
                f"column {column!r} holds class names; pass label_dict to map them to codes"
            )
        return np.asarray(self.label_map.encode(values.astype(str).str.strip()), np.int64)

    def _encode_targets(self, df: pd.DataFrame, columns: list[str]) -> np.ndarray:
        missing = [c for c in columns if c not in df.columns]
        if missing or not columns:
            raise LabelError(f"table has no class column(s) {missing or columns}")
        if self.label_map is not None and len(self.label_map) != len(columns):
            raise LabelError(
                f"{len(columns)} class columns but label_dict names {len(self.label_map)} classes"
            )
        values = df[columns].to_numpy()
        if not np.isin(values, (0, 1)).all():
            bad = [c for c in columns if not df[c].isin((0, 1)).all()]
            raise LabelError(f"class column(s) {bad} must hold 0 or 1")
        return values.astype(np.float32).reshape(len(df), len(columns))

    @property
    def multi_label(self) -> bool:
        """Whether the labels are 0/1 rows (one per class) rather than codes."""
        return self.target_columns is not None

    @property
    def label_dict(self) -> dict[int, str] | None:
        """Code → class name (``None`` when not given)."""
        return self.label_map.label_dict if self.label_map else None

    def __len__(self) -> int:
        return len(self.files)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws for ``epoch`` (the trainer calls this)."""
        self.epoch = int(epoch)

    def class_counts(self) -> dict[int, int]:
        """Clips per class code (multi-label: positive rows per class index)."""
        if self.multi_label:
            return {j: int(n) for j, n in enumerate(self.labels.sum(axis=0))}
        codes, counts = np.unique(self.labels, return_counts=True)
        return {int(c): int(n) for c, n in zip(codes, counts)}

    def _small_image(self, i: int) -> torch.Tensor:
        cached = self._cache.get(i)
        if cached is not None:
            return cached
        offset = float(self.offsets[i]) if self.offsets is not None else 0.0
        try:
            small = self.preprocessing.small_tensor(
                self.preprocessing.load_clip(self.files[i], offset)
            )
        except AudioLoadError as exc:
            raise AudioLoadError(f"row {self.row_ids[i]}: {exc}") from exc
        if self.cache_enabled:
            size = small.numel() * small.element_size()
            with self._lock:
                if self._cached_bytes + size <= self.cache_bytes and i not in self._cache:
                    self._cache[i] = small
                    self._cached_bytes += size
        return small

    def image(self, i: int) -> torch.Tensor:
        """The float32 model input ``(C, H, W)`` of row ``i`` (augmented when enabled)."""
        x = self.preprocessing.expand(self._small_image(i))
        if self.augmentation is not None:
            g = torch.Generator().manual_seed(hash((self.seed, self.epoch, int(i))) & 0x7FFFFFFF)
            x = self.augmentation(x.clone(), g)
        return x

    def _label_tensor(self, labels: np.ndarray) -> torch.Tensor:
        """Codes as int64, multi-label rows as float32 (what each loss takes)."""
        return torch.tensor(np.asarray(labels))  # a copy: a batch never aliases the table

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(i), self._label_tensor(self.labels[i])

    def batch(self, indices, channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack several rows into ``(X, y)`` without a DataLoader.

        Parameters
        ----------
        indices : sequence of int
            Rows.
        channels_last : bool
            Lay ``X`` out channels-last in memory (same values; what the trainer feeds the
            model on cpu and cuda, so it needs no conversion).
        """
        idx = np.asarray(list(indices), dtype=np.int64)
        labels = self._label_tensor(self.labels[idx])
        if self.augmentation is not None:
            xs = torch.stack([self.image(int(i)) for i in idx])
            if channels_last:
                xs = xs.contiguous(memory_format=torch.channels_last)
            return xs, labels
        # Without augmentation the cached images go straight into the batch (no float32
        # channel copies per clip first).
        smalls = [self._small_image(int(i)).numpy()[0] for i in idx]
        return stack_images(smalls, self.preprocessing.channels, channels_last), labels

    @property
    def cached_bytes(self) -> int:
        """Bytes held by the image cache."""
        return self._cached_bytes

    def clear_cache(self) -> None:
        """Drop all cached images."""
        with self._lock:
            self._cache.clear()
            self._cached_bytes = 0


#: The tutorial's name for :class:`AudioClipDataset`.
SingleTargetAudioDataset = AudioClipDataset
