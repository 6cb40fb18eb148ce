"""Tests for woodcock_widgets.ml.datasets: tensors, labels, cache, augmentation, errors."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from woodcock_widgets.audio.preprocessing import Preprocessing
from woodcock_widgets.errors import AudioLoadError, LabelError
from woodcock_widgets.ml.datasets import AudioClipDataset, Augmentation

CODE = "NumericLabels"


@pytest.fixture(scope="module")
def table(song_table):
    return song_table.df.iloc[:8].copy()


@pytest.fixture()
def load_counter(monkeypatch):
    """Count Preprocessing.load_clip calls (each one decodes an audio file)."""
    calls: list[str] = []
    original = Preprocessing.load_clip

    def counting(self, path, offset=0.0):
        calls.append(str(path))
        return original(self, path, offset)

    monkeypatch.setattr(Preprocessing, "load_clip", counting)
    return calls


def _epoch(ds) -> list[torch.Tensor]:
    return [ds[i][0] for i in range(len(ds))]


def test_items_are_model_ready_tensors(table, song_table, tiny_preprocessing):
    ds = AudioClipDataset(table, song_table.label_dict, CODE, preprocessing=tiny_preprocessing)
    assert len(ds) == len(table)
    x, y = ds[0]
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 64, 64)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    assert y.dtype == torch.long and y.ndim == 0
    assert [int(ds[i][1]) for i in range(len(ds))] == table[CODE].tolist()
    assert ds.label_dict == song_table.label_dict
    assert ds.class_counts() == table[CODE].value_counts().sort_index().to_dict()
    # the tensor is exactly what the preprocessing makes of the file (within float16)
    ref = tiny_preprocessing.file_to_tensor(table["filename"].iloc[0])
    torch.testing.assert_close(x, ref, atol=2e-3, rtol=0)


def test_default_preprocessing_is_the_tutorial(table, song_table):
    ds = AudioClipDataset(table.iloc[:1], song_table.label_dict, CODE)
    assert ds.preprocessing == Preprocessing()
    assert tuple(ds[0][0].shape) == (3, 224, 224)


def test_works_with_a_dataloader_and_batch(table, song_table, tiny_preprocessing):
    ds = AudioClipDataset(table, song_table.label_dict, CODE, preprocessing=tiny_preprocessing)
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)))
    assert tuple(xb.shape) == (4, 3, 64, 64) and yb.dtype == torch.long
    x2, y2 = ds.batch([0, 1, 2, 3])
    assert torch.equal(xb, x2) and torch.equal(yb, y2)


def test_labels_from_class_names_via_label_dict(table, song_table, tiny_preprocessing):
    ds = AudioClipDataset(
        table,
        label_dict=song_table.label_dict,
        label_column=song_table.class_column,  # "present"/"absent" strings
        preprocessing=tiny_preprocessing,
    )
    assert ds.labels.tolist() == table[CODE].tolist()
    with pytest.raises(LabelError, match="pass label_dict"):
        AudioClipDataset(table, None, song_table.class_column, preprocessing=tiny_preprocessing)
    with pytest.raises(LabelError, match="unknown class"):
        AudioClipDataset(
            table, {0: "no", 1: "yes"}, song_table.class_column, preprocessing=tiny_preprocessing
        )


def test_unlabeled_rows_get_minus_one(table, tiny_preprocessing):
    ds = AudioClipDataset(table, label_column=None, preprocessing=tiny_preprocessing)
    assert ds.labels.tolist() == [-1] * len(table)
    assert ds.label_dict is None


def test_bad_codes_and_nan_labels_are_named(table, song_table):
    bad = table.copy()
    bad.loc[bad.index[2], CODE] = 2
    with pytest.raises(LabelError, match=rf"outside 0..1 in row\(s\) \[{bad.index[2]}\]"):
        AudioClipDataset(bad, song_table.label_dict, CODE)
    neg = table.copy()
    neg.loc[neg.index[1], CODE] = -1
    with pytest.raises(LabelError, match=str(neg.index[1])):
        AudioClipDataset(neg, song_table.label_dict, CODE)
    frac = table.copy().astype({CODE: float})
    frac.loc[frac.index[0], CODE] = 0.5
    with pytest.raises(LabelError, match="integer"):
        AudioClipDataset(frac, song_table.label_dict, CODE)
    nan = table.copy().astype({CODE: float})
    nan.loc[nan.index[3], CODE] = np.nan
    with pytest.raises(LabelError, match=rf"NaN value in column '{CODE}', row\(s\) {nan.index[3]}"):
        AudioClipDataset(nan, song_table.label_dict, CODE)
    with pytest.raises(LabelError, match="'path'"):
        AudioClipDataset(table, song_table.label_dict, CODE, filename_column="path")


def test_cache_means_later_epochs_decode_nothing(
    table, song_table, tiny_preprocessing, load_counter
):
    ds = AudioClipDataset(table, song_table.label_dict, CODE, preprocessing=tiny_preprocessing)
    first = _epoch(ds)
    assert len(load_counter) == len(table)
    ds.set_epoch(1)
    second = _epoch(ds)
    assert len(load_counter) == len(table)  # nothing decoded again
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert ds.cached_bytes == len(table) * 64 * 64 * 2  # float16, one channel
    ds.clear_cache()
    assert ds.cached_bytes == 0
    _epoch(ds)
    assert len(load_counter) == 2 * len(table)


def test_without_cache_every_epoch_decodes(table, song_table, tiny_preprocessing, load_counter):
    ds = AudioClipDataset(
        table, song_table.label_dict, CODE, preprocessing=tiny_preprocessing, cache=False
    )
    _epoch(ds)
    _epoch(ds)
    assert len(load_counter) == 2 * len(table)
    assert ds.cached_bytes == 0


def test_cached_clips_survive_their_files(tmp_path, table, song_table, tiny_preprocessing):
    df = table.iloc[:3].copy()
    copies = []
    for f in df["filename"]:
        copies.append(str(shutil.copy(f, tmp_path)))
    df["filename"] = copies
    ds = AudioClipDataset(df, song_table.label_dict, CODE, preprocessing=tiny_preprocessing)
    first = _epoch(ds)
    for f in copies:
        (tmp_path / f).unlink()
    second = _epoch(ds)  # would raise AudioLoadError if it touched the files
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_cache_bytes_bound_is_respected(table, song_table, tiny_preprocessing, load_counter):
    per_clip = 64 * 64 * 2
    bound = 3 * per_clip + per_clip // 2
    ds = AudioClipDataset(
        table, song_table.label_dict, CODE, preprocessing=tiny_preprocessing, cache_bytes=bound
    )
    _epoch(ds)
    assert ds.cached_bytes == 3 * per_clip <= bound
    _epoch(ds)
    assert len(load_counter) == len(table) + (len(table) - 3)  # only the uncached re-decoded
    assert ds.cached_bytes == 3 * per_clip


def test_augmentation_is_deterministic_per_seed_epoch_index(table, song_table, tiny_preprocessing):
    def make(seed):
        return AudioClipDataset(
            table,
            song_table.label_dict,
            CODE,
            preprocessing=tiny_preprocessing,
            augment=True,
            seed=seed,
        )

    a, b, other_seed = make(3), make(3), make(4)
    a0, b0 = _epoch(a), _epoch(b)
    assert all(torch.equal(x, y) for x, y in zip(a0, b0))  # same (seed, epoch, index)
    assert all(torch.equal(x, y) for x, y in zip(a0, _epoch(a)))  # repeatable
    a.set_epoch(1)
    a1 = _epoch(a)
    assert sum(not torch.equal(x, y) for x, y in zip(a0, a1)) >= len(table) - 1
    assert not all(torch.equal(x, y) for x, y in zip(a0, _epoch(other_seed)))
    a.set_epoch(0)
    assert all(torch.equal(x, y) for x, y in zip(a0, _epoch(a)))
    # augmentation works on copies: the cached images stay clean
    plain = AudioClipDataset(table, song_table.label_dict, CODE, preprocessing=tiny_preprocessing)
    a.augmentation = None
    assert all(torch.equal(x, y) for x, y in zip(_epoch(a), _epoch(plain)))
    for x in a1:
        assert tuple(x.shape) == (3, 64, 64) and x.min() >= -1 and x.max() <= 1


def test_augmentation_changes_the_image_within_bounds():
    img = torch.linspace(-1, 1, 3 * 32 * 40).reshape(3, 32, 40)
    aug = Augmentation(max_shift=0.2, max_time_mask=0.2, max_freq_mask=0.2)
    outs = [aug(img.clone(), torch.Generator().manual_seed(s)) for s in range(5)]
    assert any(not torch.equal(o, img) for o in outs)
    assert all(o.shape == img.shape for o in outs)
    off = Augmentation(0, 0, 0)
    assert torch.equal(off(img.clone(), torch.Generator().manual_seed(0)), img)
    assert aug.to_dict() == {"max_shift": 0.2, "max_time_mask": 0.2, "max_freq_mask": 0.2}


def test_unreadable_file_names_row_and_file(tmp_path, table, song_table, tiny_preprocessing):
    df = table.iloc[:3].copy()
    bad = tmp_path / "corrupt.wav"
    bad.write_text("this is not audio")
    df.loc[df.index[1], "filename"] = str(bad)
    ds = AudioClipDataset(df, song_table.label_dict, CODE, preprocessing=tiny_preprocessing)
    ds[0]
    with pytest.raises(AudioLoadError) as ei:
        ds[1]
    msg = str(ei.value)
    assert f"row {df.index[1]}" in msg and str(bad) in msg
    (tmp_path / "corrupt.wav").unlink()
    with pytest.raises(AudioLoadError, match="not found"):
        ds[1]


def test_offset_column_selects_the_clip_within_a_file(tmp_path, table, tiny_preprocessing):
    sr = tiny_preprocessing.sample_rate
    x = np.zeros(4 * sr, np.float32)
    x[2 * sr :] = np.random.default_rng(0).standard_normal(2 * sr).astype(np.float32) * 0.2
    path = tmp_path / "long.wav"
    sf.write(str(path), x, sr, subtype="FLOAT")
    df = pd.DataFrame({"filename": [str(path)] * 2, "offset": [0.0, 2.0]})
    ds = AudioClipDataset(
        df, label_column=None, preprocessing=tiny_preprocessing, offset_column="offset"
    )
    assert (ds[0][0] == -1).all()  # the silent first half
    assert (ds[1][0] > -1).float().mean() > 0.5


def test_tutorial_names_are_importable_from_the_package():
    from woodcock_widgets import Audio, SingleTargetAudioDataset, Spectrogram, train
    from woodcock_widgets.audio.clip import Audio as A
    from woodcock_widgets.audio.spectrogram import Spectrogram as S
    from woodcock_widgets.ml.training import train as T

    assert SingleTargetAudioDataset is AudioClipDataset
    assert (Audio, Spectrogram, train) == (A, S, T)


def test_tutorial_style_construction(table, song_table, tiny_preprocessing):
    from woodcock_widgets import SingleTargetAudioDataset

    ds = SingleTargetAudioDataset(
        df=table,
        label_dict=song_table.label_dict,
        label_column=CODE,
        filename_column="filename",
        preprocessing=tiny_preprocessing,
    )
    assert isinstance(ds, torch.utils.data.Dataset)
    assert int(ds[0][1]) == int(table[CODE].iloc[0])
