"""The built-in labeled woodcock clips: generated, seeded, offline.

:func:`make_woodcock_dataset` writes a folder of 2-second clips plus ``woodcock_labels.csv``
(columns ``filename, woodcock, sound_type``, file names relative to the CSV's folder), the
schema of the original tutorial's download (:func:`~woodcock_widgets.data.download_woodcock`).
``song`` clips hold the woodcock's buzzy "peent", ``call`` clips only its soft low
introductory note, absent (``na``) clips neither. Two recipes:

* ``difficulty="field"`` (the default): a lesson about field recordings — songs from loud to
  barely audible and cut by clip edges, a nighthawk's look-alike "peent", frog and insect
  choruses, rain and wind with any label, and a documented ~3 % of wrong labels (see
  :mod:`woodcock_widgets.data.field`). A model learns it well but not perfectly.
* ``difficulty="easy"``: clean, well separated clips that any model gets right (the kit's
  generator before ``field`` existed, byte for byte).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from .download import LABELS_FILENAME
from .field import WRONG_LABEL_SHARE, choose_wrong_labels, field_clip
from .sounds import Mixer, background, distractors, peent, tuko

__all__ = [
    "ANSWER_KEY_FILENAME",
    "DATASET_SIZES",
    "DIFFICULTIES",
    "LABELS_FILENAME",
    "WRONG_LABEL_SHARE",
    "make_sized_dataset",
    "make_woodcock_dataset",
]

#: Named clip counts for :func:`make_sized_dataset` (not the tutorial runner's presets, which
#: set notebook parameters). ``original`` is the original tutorial's 29 clips; ``tutorial``
#: the notebooks' 300; ``smoke`` 20 for quick checks.
DATASET_SIZES: dict[str, dict[str, int]] = {
    "smoke": dict(n_song=8, n_call=4, n_absent=8),
    "original": dict(n_song=20, n_call=2, n_absent=7),
    "tutorial": dict(n_song=150, n_call=30, n_absent=120),
}

#: The recipes :func:`make_woodcock_dataset` knows.
DIFFICULTIES = ("easy", "field")

#: The ``field`` set's answer key, beside the label table: what each clip really holds.
ANSWER_KEY_FILENAME = "woodcock_answer_key.csv"

Progress = Callable[[int, int], None]

# kind -> (code used in the per-clip seed, "woodcock" label, "sound_type" label)
_KINDS = {
    "song": (1, "present", "song"),
    "call": (2, "present", "call"),
    "absent": (3, "absent", "na"),
}
_SHUFFLE_CODE = 99
_FIELD_CODE = 5
_PEAK_LIMIT = 0.9  # clips louder than this are scaled down (well under full scale)


def _synthesize(kind: str, rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """One ``easy`` clip of the given kind as float samples in [-0.9, 0.9]."""
    n = int(round(seconds * sr))
    mixer = Mixer(background(rng, n, sr), sr)
    if kind == "song":
        dur = rng.uniform(0.2, 0.3)
        start = min(rng.uniform(0.4, 0.9), max(0.0, seconds - dur - 0.05))
        # mostly clear, some faint (distant or masked) songs
        snr = rng.uniform(0.0, 8.0) if rng.random() < 0.2 else rng.uniform(8.0, 30.0)
        mixer.add(peent(rng, n, sr, start, dur), snr, 2000.0, 4500.0)
        if rng.random() < 0.5:
            lead = start - rng.uniform(0.12, 0.35)
            if lead > 0.02:
                mixer.add(tuko(rng, n, sr, lead), rng.uniform(0.0, 12.0), 600.0, 1600.0)
        distractors(mixer, rng, {"chirps": 0.2, "insect": 0.15, "whistle": 0.0, "clicks": 0.1})
    elif kind == "call":
        for _ in range(2 if rng.random() < 0.3 else 1):
            start = rng.uniform(0.1, max(0.1, seconds - 0.15))
            mixer.add(tuko(rng, n, sr, start), rng.uniform(4.0, 16.0), 600.0, 1600.0)
    else:
        distractors(mixer, rng, {"chirps": 0.5, "insect": 0.3, "whistle": 0.15, "clicks": 0.15})
    x = mixer.mix - mixer.mix.mean()
    peak = float(np.max(np.abs(x)))
    if peak > _PEAK_LIMIT:
        x *= rng.uniform(0.6, _PEAK_LIMIT) / peak
    return x


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be zero or more, got {value}")
    return int(value)


def _check_arguments(counts: dict, seed, sample_rate, clip_seconds, difficulty) -> None:
    if sum(counts.values()) == 0:
        raise ValueError("nothing to generate: n_song, n_call and n_absent are all zero")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise ValueError(f"sample_rate must be a whole number of Hz, got {sample_rate!r}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz for the peent, got {sample_rate}")
    if not isinstance(clip_seconds, (int, float, np.number)) or not 0.5 <= clip_seconds <= 60:
        raise ValueError(f"clip_seconds must be between 0.5 and 60, got {clip_seconds!r}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {difficulty!r}")


def _write_csv(path: Path, header: list[str], rows) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def make_woodcock_dataset(
    out_dir: str | os.PathLike,
    *,
    n_song: int = 20,
    n_call: int = 2,
    n_absent: int = 7,
    seed: int = 0,
    sample_rate: int = 22050,
    clip_seconds: float = 2.0,
    difficulty: str = "field",
    progress: Progress | None = None,
) -> Path:
    """Write a seeded, woodcock-like labeled clip set with the tutorial's CSV schema.

    Every clip is field-recorder background (pink-to-brown noise, hiss, gusty wind) plus:

    * ``song``: the woodcock "peent", a buzzy note of 0.2-0.3 s near 2.5-3.5 kHz with
      harmonics, sometimes led by the soft introductory note.
    * ``call``: only the soft, short introductory note near 1 kHz (no peent).
    * absent (``na``): no woodcock.

    With ``difficulty="easy"`` songs are mostly loud and start 0.4-0.9 s in, and absent
    clips hold other birds' chirps, an insect, a whistle, clicks or nothing: a model gets
    them all right. With ``difficulty="field"`` (see :mod:`woodcock_widgets.data.field`)
    songs range from loud to barely audible and may be cut by the clip's edges; nighthawk
    "peents", frog and insect choruses, rain and wind come with any label; and
    ``round(WRONG_LABEL_SHARE * clips / 2)`` song clips are labeled absent and as many
    absent clips labeled song (about 3 %; the label counts stay as asked). File names then
    say nothing about the content, and ``woodcock_answer_key.csv`` beside the table tells,
    per clip, the true ``sound_type``, whether the label is wrong, the song's
    signal-to-noise ratio (dB over the 2-4.5 kHz noise), whether a song is cut by an edge,
    whether a nighthawk calls, and every sound in it.

    Parameters
    ----------
    out_dir : str or path-like
        Folder for the WAV files and ``woodcock_labels.csv``; created when missing.
        Existing files of the same names are overwritten.
    n_song, n_call, n_absent : int
        How many clips of each kind (at least one clip in total), as labeled.
    seed : int
        Non-negative seed. Each clip has its own generator seeded from ``(seed, kind,
        index)``, so the same arguments give byte-identical files, and asking for more
        clips of a kind leaves the first ones unchanged.
    sample_rate : int
        Samples per second of the written files (at least 8000).
    clip_seconds : float
        Length of every clip in seconds (0.5 to 60).
    difficulty : {"field", "easy"}
        The recipe (see above).
    progress : callable, optional
        Called as ``progress(done, total)`` after each clip is written.

    Returns
    -------
    pathlib.Path
        The path of ``woodcock_labels.csv``. Its ``filename`` column holds basenames,
        relative to the CSV's folder; rows are shuffled (deterministically, from ``seed``).

    Raises
    ------
    ValueError
        For negative or non-integer counts, no clips at all, unusable audio settings or an
        unknown difficulty.
    """
    counts = {
        "song": _check_count("n_song", n_song),
        "call": _check_count("n_call", n_call),
        "absent": _check_count("n_absent", n_absent),
    }
    _check_arguments(counts, seed, sample_rate, clip_seconds, difficulty)
    field = difficulty == "field"
    sr, seconds, total = int(sample_rate), float(clip_seconds), sum(counts.values())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names: dict[str, list[str]] = {kind: [] for kind in _KINDS}
    infos: dict[str, list[dict]] = {kind: [] for kind in _KINDS}
    for kind, (code, _, _) in _KINDS.items():
        for i in range(counts[kind]):
            key = f"{seed}:{kind}:{i}:{sample_rate}:{seconds!r}"
            if field:
                rng = np.random.default_rng([int(seed), code, i, _FIELD_CODE])
                samples, info = field_clip(kind, rng, sr, seconds)
                name = f"clip_{hashlib.sha256(f'field:{key}'.encode()).hexdigest()[:10]}.wav"
            else:
                rng = np.random.default_rng([int(seed), code, i])
                samples, info = _synthesize(kind, rng, sr, seconds), {}
                name = f"{kind}_{i:04d}_{hashlib.sha256(key.encode()).hexdigest()[:8]}.wav"
            pcm = np.round(samples * 32767).astype(np.int16)
            sf.write(out / name, pcm, sr, subtype="PCM_16", format="WAV")
            names[kind].append(name)
            infos[kind].append(info)
            if progress is not None:
                progress(sum(len(v) for v in names.values()), total)

    wrong = choose_wrong_labels(infos, int(seed)) if field else set()
    swap = {"song": "absent", "absent": "song", "call": "call"}
    rows, key_rows = [], []
    for kind in _KINDS:
        for i, name in enumerate(names[kind]):
            is_wrong = (kind, i) in wrong
            _, woodcock, sound_type = _KINDS[swap[kind] if is_wrong else kind]
            rows.append((name, woodcock, sound_type))
            if field:
                info = infos[kind][i]
                snr = info["song_snr_db"]
                key_rows.append(
                    (name, sound_type, _KINDS[kind][2], is_wrong, "" if np.isnan(snr) else snr)
                    + (info["cut"], info["nighthawk"], "+".join(info["sounds"]) or "noise")
                )
    order = np.random.default_rng([int(seed), _SHUFFLE_CODE]).permutation(len(rows))
    if field:
        header = ["filename", "label", "true_sound_type", "label_is_wrong", "song_snr_db"]
        header += ["song_cut_by_edge", "nighthawk", "sounds"]
        _write_csv(out / ANSWER_KEY_FILENAME, header, [key_rows[k] for k in order])
    csv_path = out / LABELS_FILENAME
    _write_csv(csv_path, ["filename", "woodcock", "sound_type"], [rows[k] for k in order])
    return csv_path


def make_sized_dataset(
    out_dir: str | os.PathLike,
    size: str = "original",
    seed: int = 0,
    *,
    difficulty: str = "field",
    progress: Progress | None = None,
) -> Path:
    """Write one of the :data:`DATASET_SIZES` with :func:`make_woodcock_dataset`.

    Parameters
    ----------
    out_dir : str or path-like
        Folder for the clips and ``woodcock_labels.csv``.
    size : {"smoke", "original", "tutorial"}
        ``smoke`` is 20 clips for quick checks, ``original`` the original tutorial's 29 clips
        (20 song, 2 call, 7 absent), ``tutorial`` the notebooks' 300 (150, 30, 120).
    seed : int
        Seed passed on to the generator.
    difficulty : {"field", "easy"}
        The recipe, passed on.
    progress : callable, optional
        Called as ``progress(done, total)`` after each clip.

    Returns
    -------
    pathlib.Path
        The path of ``woodcock_labels.csv``.

    Raises
    ------
    ValueError
        When ``size`` is not one of the known names.
    """
    if size not in DATASET_SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(DATASET_SIZES)}")
    return make_woodcock_dataset(
        out_dir, seed=seed, difficulty=difficulty, progress=progress, **DATASET_SIZES[size]
    )
