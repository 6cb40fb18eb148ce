"""The tutorial's labeled woodcock clips: a safe download, and a built-in generated set.

Two ways to get a folder of 2-second clips plus ``woodcock_labels.csv`` (columns
``filename, woodcock, sound_type``, filenames relative to the CSV's folder):

* :func:`download_woodcock` fetches the original OpenSoundscape tutorial archive (needs a
  network) and unpacks it with :func:`safe_extract`, which refuses unsafe archives.
* :func:`make_woodcock_dataset` writes a seeded, woodcock-like set with no network at all:
  ``song`` clips hold the buzzy "peent", ``call`` clips only the soft low introductory
  note, and absent clips noise with other birds, insects, whistles or nothing.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import http.client
import io
import lzma
import os
import re
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import ArchiveError, DownloadError

__all__ = [
    "LABELS_FILENAME",
    "PRESETS",
    "WOODCOCK_URL",
    "download_woodcock",
    "make_preset_dataset",
    "make_woodcock_dataset",
    "safe_extract",
]

#: The ``woodcock_labeled_data.tar.gz`` archive used by the OpenSoundscape tutorial.
WOODCOCK_URL = "https://pitt.box.com/shared/static/79fi7d715dulcldsy6uogz02rsn5uesd.gz"

#: Name of the label table inside a dataset folder.
LABELS_FILENAME = "woodcock_labels.csv"

#: Ready-made sizes for :func:`make_preset_dataset`. ``default`` matches the tutorial's 29 clips.
PRESETS: dict[str, dict[str, int]] = {
    "smoke": dict(n_song=8, n_call=4, n_absent=8),
    "default": dict(n_song=20, n_call=2, n_absent=7),
    "train": dict(n_song=150, n_call=30, n_absent=120),
}

Progress = Callable[[int, int], None]

# ---------------------------------------------------------------------------------------------
# Built-in generated dataset
# ---------------------------------------------------------------------------------------------

# kind -> (code used in the per-clip seed, "woodcock" label, "sound_type" label)
_KINDS = {
    "song": (1, "present", "song"),
    "call": (2, "present", "call"),
    "absent": (3, "absent", "na"),
}
_SHUFFLE_CODE = 99
_PEAK_LIMIT = 0.9  # clips louder than this are scaled down (well under full scale)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _ramp_envelope(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    """Flat envelope with raised-cosine attack and release (lengths in seconds)."""
    env = np.ones(n)
    a = min(n // 2, max(1, int(attack * sr)))
    r = min(n - a, max(1, int(release * sr)))
    env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[n - r :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, r + 1) / r)
    return env


def _slow_wobble(rng: np.random.Generator, n: int, points: int = 6) -> np.ndarray:
    """Smooth random curve in [-1, 1] through a few random points (for drift and jitter)."""
    knots = rng.uniform(-1.0, 1.0, points)
    return np.interp(np.linspace(0, points - 1, n), np.arange(points), knots)


def _spectral_noise(rng: np.random.Generator, n: int, sr: int, gain_fn) -> np.ndarray:
    """Gaussian noise shaped in the frequency domain by ``gain_fn(freqs)``; unit RMS."""
    m = n // 2 + 1
    spec = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    x = np.fft.irfft(spec * gain_fn(freqs), n)
    return x / (_rms(x) + 1e-12)


def _band_rms(power: np.ndarray, freqs: np.ndarray, n: int, lo: float, hi: float) -> float:
    """RMS of the part of a signal between ``lo`` and ``hi`` Hz, from ``|rfft|**2``."""
    band = (freqs >= lo) & (freqs <= hi)
    return float(np.sqrt(2.0 * power[band].sum()) / n)


def _background(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Field-recorder background: pink-to-brown noise, sensor hiss and gusty wind rumble."""
    t = np.arange(n) / sr
    exponent = rng.uniform(0.8, 1.8)  # 1 = pink, 2 = brown
    colored = _spectral_noise(
        rng, n, sr, lambda f: (f >= 20.0) * (np.maximum(f, 20.0) / 20.0) ** (-exponent / 2)
    )
    hiss = _spectral_noise(rng, n, sr, lambda f: (f >= 20.0).astype(float))
    x = colored + hiss * 10 ** (rng.uniform(-34, -22) / 20)
    if rng.random() < 0.65:
        cutoff = rng.uniform(120.0, 400.0)
        wind = _spectral_noise(rng, n, sr, lambda f: 1.0 / (1.0 + (f / cutoff) ** 4))
        gust = np.zeros(n)
        for _ in range(3):
            gust += rng.uniform(0.3, 1.0) * np.sin(
                2 * np.pi * rng.uniform(0.1, 1.5) * t + rng.uniform(0, 2 * np.pi)
            )
        gust = 0.25 + 0.75 * (gust - gust.min()) / (np.ptp(gust) + 1e-12)
        x = x + wind * gust * 10 ** (rng.uniform(-10, 8) / 20)
    floor_rms = 10 ** (rng.uniform(-46, -32) / 20)
    return x * (floor_rms / _rms(x))


def _peent(rng: np.random.Generator, n: int, sr: int, start: float, dur: float) -> np.ndarray:
    """The buzzy, nasal "peent": an amplitude-modulated harmonic stack near 3 kHz."""
    out = np.zeros(n)
    i0 = int(start * sr)
    m = min(n - i0, int(dur * sr))
    tt = np.arange(m) / sr
    u = tt / dur
    fc = rng.uniform(2500.0, 3500.0)
    # slight arch in pitch, a small downward drift, and a little wobble
    contour = 1 + rng.uniform(0.02, 0.06) * np.sin(np.pi * u) - rng.uniform(0.0, 0.05) * u
    contour *= 1 + 0.004 * _slow_wobble(rng, m)
    phase = 2 * np.pi * np.cumsum(fc * contour) / sr
    # the buzz: fast pulsed amplitude modulation gives dense sidebands around each harmonic
    fb = rng.uniform(70.0, 150.0) * (1 + 0.05 * _slow_wobble(rng, m, 4))
    buzz = 0.5 + 0.5 * np.cos(2 * np.pi * np.cumsum(fb) / sr + rng.uniform(0, 2 * np.pi))
    depth = rng.uniform(0.7, 0.95)
    am = 1 - depth + depth * buzz ** rng.uniform(2.0, 5.0)
    # a little breathy noise riding on the buzz makes the note "nasal" rather than tonal
    # (slow phase noise: it widens each harmonic by a few hundred Hz)
    breath = _spectral_noise(rng, m, sr, lambda f: 1.0 / (1.0 + (f / 250.0) ** 4))
    breath *= rng.uniform(0.2, 0.6)
    rolloff = rng.uniform(0.3, 0.7)  # distant birds lose their upper harmonics
    sig = np.zeros(m)
    for h in range(1, 6):
        if h * fc * 1.08 + 6 * fb.max() > 0.45 * sr:
            break
        amp = rolloff ** (h - 1) * rng.uniform(0.7, 1.3)
        sig += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi) + breath)
    env = _ramp_envelope(m, sr, rng.uniform(0.008, 0.025), rng.uniform(0.03, 0.07))
    env *= 1 + 0.15 * _slow_wobble(rng, m, 4)
    out[i0 : i0 + m] = sig * am * env
    return out


def _tuko(rng: np.random.Generator, n: int, sr: int, start: float) -> np.ndarray:
    """The soft, low introductory note: short, near 1 kHz, a few hundred Hz wide."""
    out = np.zeros(n)
    dur = rng.uniform(0.05, 0.1)
    i0 = int(start * sr)
    m = min(n - i0, int(dur * sr))
    tt = np.arange(m) / sr
    u = tt / dur
    f0 = rng.uniform(850.0, 1250.0)
    f = f0 - rng.uniform(50.0, 200.0) * u + rng.uniform(0.0, 80.0) * np.sin(np.pi * u)
    phase = 2 * np.pi * np.cumsum(f) / sr
    fm = rng.uniform(50.0, 110.0)
    am = 1 - rng.uniform(0.6, 1.0) * (0.5 + 0.5 * np.cos(2 * np.pi * fm * tt))
    sig = np.sin(phase) + rng.uniform(0.05, 0.2) * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
    env = np.sin(np.pi * u) ** 2
    if rng.random() < 0.5:  # "tu-ko": two syllables with a dip between
        env *= 1 - 0.8 * np.exp(-(((u - 0.5) / 0.08) ** 2))
    out[i0 : i0 + m] = sig * am * env
    return out


def _chirps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Another bird: a run of short, fast frequency sweeps somewhere in 2-8 kHz."""
    out = np.zeros(n)
    top = min(9500.0, 0.45 * sr)
    count = int(rng.integers(1, 8))
    dur = rng.uniform(0.02, 0.08)
    gap = rng.uniform(0.03, 0.15)
    f_start = rng.uniform(2000.0, min(8000.0, top))
    delta = rng.uniform(-3000.0, 2000.0)
    span = count * (dur + gap)
    t = rng.uniform(0.0, max(0.0, n / sr - span))
    for _ in range(count):
        i0 = int(t * sr)
        m = min(n - i0, int(dur * rng.uniform(0.85, 1.15) * sr))
        if m <= 8:
            break
        u = np.arange(m) / m
        fs = f_start * rng.uniform(0.95, 1.05)
        f = np.clip(fs + delta * u, 1500.0, top)
        phase = 2 * np.pi * np.cumsum(f) / sr
        sig = np.sin(phase)
        if 2 * f.max() < top:
            sig += rng.uniform(0.0, 0.3) * np.sin(2 * phase)
        out[i0 : i0 + m] += sig * np.sin(np.pi * u) ** 2
        t += dur + gap * rng.uniform(0.8, 1.2)
    return out


def _insect(rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, float, float]:
    """A steady, pulsing high buzz band (cricket/katydid-like); returns its band too."""
    if rng.random() < 0.2:
        fc = rng.uniform(2600.0, 3800.0)  # sometimes right in the peent band
    else:
        fc = rng.uniform(4000.0, min(9500.0, 0.42 * sr))
    bw = rng.uniform(150.0, 800.0)
    sig = _spectral_noise(rng, n, sr, lambda f: np.exp(-0.5 * ((f - fc) / (bw / 2.355)) ** 2))
    t = np.arange(n) / sr
    sig *= 1 - rng.uniform(0.2, 0.9) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(15, 60) * t))
    i0 = int(rng.uniform(0.0, 0.4) * n)
    i1 = n - int(rng.uniform(0.0, 0.4) * n)
    gate = np.zeros(n)
    gate[i0:i1] = _ramp_envelope(i1 - i0, sr, 0.02, 0.02)
    return sig * gate, fc - bw, fc + bw


def _whistle(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A pure, gliding whistle (a tonal bird note) between 2 and 5 kHz."""
    out = np.zeros(n)
    dur = rng.uniform(0.1, 0.45)
    i0 = int(rng.uniform(0.0, max(0.0, n / sr - dur)) * sr)
    m = min(n - i0, int(dur * sr))
    u = np.arange(m) / m
    f0 = rng.uniform(2000.0, 5000.0)
    f = f0 * (1 + rng.uniform(-0.15, 0.15) * u)
    out[i0 : i0 + m] = np.sin(2 * np.pi * np.cumsum(f) / sr) * _ramp_envelope(m, sr, 0.02, 0.04)
    return out


def _clicks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A few broadband clicks (rain drops, twigs)."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(1, 7))):
        m = int(rng.uniform(0.002, 0.008) * sr)
        i0 = int(rng.integers(0, n - m))
        decay = np.exp(-np.arange(m) / (m / 4))
        out[i0 : i0 + m] += rng.standard_normal(m) * decay * rng.uniform(0.3, 1.0)
    return out


class _Mixer:
    """Adds events to a background at a chosen signal-to-noise ratio in a frequency band."""

    def __init__(self, background: np.ndarray, sr: int):
        self.sr = sr
        self.n = len(background)
        self.mix = background.copy()
        self._power = np.abs(np.fft.rfft(background)) ** 2
        self._freqs = np.fft.rfftfreq(self.n, 1.0 / sr)

    def add(self, event: np.ndarray, snr_db: float, lo: float, hi: float) -> None:
        """Add ``event`` so its RMS (while sounding) is ``snr_db`` above the band's noise."""
        active = np.abs(event) > 0
        level = _rms(event[active])
        if level == 0:
            return
        noise = _band_rms(self._power, self._freqs, self.n, lo, min(hi, 0.5 * self.sr))
        self.mix += event * (noise * 10 ** (snr_db / 20) / level)


def _distractors(mixer: _Mixer, rng: np.random.Generator, probs: dict[str, float]) -> None:
    n, sr = mixer.n, mixer.sr
    if rng.random() < probs["chirps"]:
        mixer.add(_chirps(rng, n, sr), rng.uniform(0.0, 25.0), 2000.0, 8000.0)
    if rng.random() < probs["insect"]:
        sig, lo, hi = _insect(rng, n, sr)
        mixer.add(sig, rng.uniform(0.0, 15.0), lo, hi)
    if rng.random() < probs["whistle"]:
        mixer.add(_whistle(rng, n, sr), rng.uniform(3.0, 20.0), 2000.0, 5000.0)
    if rng.random() < probs["clicks"]:
        mixer.add(_clicks(rng, n, sr), rng.uniform(5.0, 20.0), 20.0, 0.5 * sr)


def _synthesize(kind: str, rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """One clip of the given kind as float samples in [-0.9, 0.9]."""
    n = int(round(seconds * sr))
    mixer = _Mixer(_background(rng, n, sr), sr)
    if kind == "song":
        dur = rng.uniform(0.2, 0.3)
        start = min(rng.uniform(0.4, 0.9), max(0.0, seconds - dur - 0.05))
        # mostly clear, some faint (distant or masked) songs
        snr = rng.uniform(0.0, 8.0) if rng.random() < 0.2 else rng.uniform(8.0, 30.0)
        mixer.add(_peent(rng, n, sr, start, dur), snr, 2000.0, 4500.0)
        if rng.random() < 0.5:
            lead = start - rng.uniform(0.12, 0.35)
            if lead > 0.02:
                mixer.add(_tuko(rng, n, sr, lead), rng.uniform(0.0, 12.0), 600.0, 1600.0)
        _distractors(mixer, rng, {"chirps": 0.2, "insect": 0.15, "whistle": 0.0, "clicks": 0.1})
    elif kind == "call":
        for _ in range(2 if rng.random() < 0.3 else 1):
            start = rng.uniform(0.1, max(0.1, seconds - 0.15))
            mixer.add(_tuko(rng, n, sr, start), rng.uniform(4.0, 16.0), 600.0, 1600.0)
    else:
        _distractors(mixer, rng, {"chirps": 0.5, "insect": 0.3, "whistle": 0.15, "clicks": 0.15})
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


def make_woodcock_dataset(
    out_dir: str | os.PathLike,
    *,
    n_song: int = 20,
    n_call: int = 2,
    n_absent: int = 7,
    seed: int = 0,
    sample_rate: int = 22050,
    clip_seconds: float = 2.0,
    progress: Progress | None = None,
) -> Path:
    """Write a seeded, woodcock-like labeled clip set with the tutorial's CSV schema.

    Every clip is field-recorder background (pink-to-brown noise, hiss, gusty wind) plus:

    * ``song``: the woodcock "peent", a loud buzzy note of 0.2-0.3 s near 2.5-3.5 kHz with
      harmonics, starting 0.4-0.9 s in, sometimes led by the soft introductory note, and
      with a spread of loudness (some faint); now and then another bird or insect too.
    * ``call``: only the soft, short introductory note near 1 kHz (no peent).
    * absent (``na``): noise with other birds' chirps, an insect buzz, a whistle, clicks, or
      nothing; some of these fall in the peent's frequency band.

    Parameters
    ----------
    out_dir : str or path-like
        Folder for the WAV files and ``woodcock_labels.csv``; created when missing.
        Existing files of the same names are overwritten.
    n_song, n_call, n_absent : int
        How many clips of each kind (at least one clip in total).
    seed : int
        Non-negative seed. Each clip has its own generator seeded from ``(seed, kind,
        index)``, so the same arguments give byte-identical files, and asking for more
        clips of a kind leaves the first ones unchanged.
    sample_rate : int
        Samples per second of the written files (at least 8000).
    clip_seconds : float
        Length of every clip in seconds (0.5 to 60).
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
        For negative or non-integer counts, no clips at all, or unusable audio settings.
    """
    counts = {
        "song": _check_count("n_song", n_song),
        "call": _check_count("n_call", n_call),
        "absent": _check_count("n_absent", n_absent),
    }
    total = sum(counts.values())
    if total == 0:
        raise ValueError("nothing to generate: n_song, n_call and n_absent are all zero")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise ValueError(f"sample_rate must be a whole number of Hz, got {sample_rate!r}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz for the peent, got {sample_rate}")
    if not isinstance(clip_seconds, (int, float, np.number)) or not 0.5 <= clip_seconds <= 60:
        raise ValueError(f"clip_seconds must be between 0.5 and 60, got {clip_seconds!r}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str]] = []
    done = 0
    for kind, (code, woodcock, sound_type) in _KINDS.items():
        for i in range(counts[kind]):
            rng = np.random.default_rng([int(seed), code, i])
            samples = _synthesize(kind, rng, int(sample_rate), float(clip_seconds))
            tag = hashlib.sha256(
                f"{seed}:{kind}:{i}:{sample_rate}:{float(clip_seconds)!r}".encode()
            ).hexdigest()[:8]
            name = f"{kind}_{i:04d}_{tag}.wav"
            pcm = np.round(samples * 32767).astype(np.int16)
            sf.write(out / name, pcm, int(sample_rate), subtype="PCM_16", format="WAV")
            rows.append((name, woodcock, sound_type))
            done += 1
            if progress is not None:
                progress(done, total)

    order = np.random.default_rng([int(seed), _SHUFFLE_CODE]).permutation(len(rows))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["filename", "woodcock", "sound_type"])
    writer.writerows(rows[k] for k in order)
    csv_path = out / LABELS_FILENAME
    tmp = out / f".{LABELS_FILENAME}.tmp"
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, csv_path)
    return csv_path


def make_preset_dataset(
    out_dir: str | os.PathLike,
    preset: str = "default",
    seed: int = 0,
    *,
    progress: Progress | None = None,
) -> Path:
    """Write one of the :data:`PRESETS` sizes with :func:`make_woodcock_dataset`.

    Parameters
    ----------
    out_dir : str or path-like
        Folder for the clips and ``woodcock_labels.csv``.
    preset : {"smoke", "default", "train"}
        ``smoke`` is 20 clips for quick checks, ``default`` the tutorial's 29 clips
        (20 song, 2 call, 7 absent), ``train`` 300 clips for a model that learns.
    seed : int
        Seed passed on to the generator.
    progress : callable, optional
        Called as ``progress(done, total)`` after each clip.

    Returns
    -------
    pathlib.Path
        The path of ``woodcock_labels.csv``.

    Raises
    ------
    ValueError
        When ``preset`` is not one of the known names.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return make_woodcock_dataset(out_dir, seed=seed, progress=progress, **PRESETS[preset])


# ---------------------------------------------------------------------------------------------
# Safe extraction
# ---------------------------------------------------------------------------------------------

# Archives whose members add up to less than this are never refused for their ratio alone:
# nothing that small can fill a disk, and small silent WAVs or tables compress very well.
_RATIO_FLOOR_BYTES = 1024**2
_CHUNK = 1024**2
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError)
_DRIVE = re.compile(r"^[A-Za-z]:")


def _member_target(archive: Path, root: Path, name: str, is_dir: bool) -> Path | None:
    """Check one member name and return where it goes (``None``: the destination itself)."""

    def refuse(why: str) -> ArchiveError:
        return ArchiveError(f"refusing to extract {archive}: member {name!r} {why}")

    if not name or "\x00" in name:
        raise refuse("has an empty or invalid name")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        raise refuse("has an absolute path")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refuse("has a '..' path component")
    if not parts:
        if is_dir:
            return None
        raise refuse("has no file name")
    target = root.joinpath(*parts)
    real = os.path.realpath(target)
    if os.path.commonpath([str(root), real]) != str(root):
        raise refuse(f"resolves outside the destination {root}")
    return target


def _check_totals(
    archive: Path, sizes: list[tuple[str, int]], max_total_bytes: int, max_ratio: float
) -> None:
    total = sum(size for _, size in sizes)
    if total > max_total_bytes:
        raise ArchiveError(
            f"refusing to extract {archive}: its members add up to {total} bytes, over the "
            f"limit of {max_total_bytes} bytes"
        )
    archive_size = max(1, archive.stat().st_size)
    if total > _RATIO_FLOOR_BYTES and total / archive_size > max_ratio:
        biggest = max(sizes, key=lambda item: item[1])[0]
        raise ArchiveError(
            f"refusing to extract {archive}: it would expand {total / archive_size:.0f}-fold "
            f"(limit {max_ratio}), a likely decompression bomb; largest member {biggest!r}"
        )


def _plan_tar(archive: Path, tf: tarfile.TarFile, root: Path, limits: dict):
    plan, sizes, total = [], [], 0
    while True:
        member = tf.next()
        if member is None:
            break
        if len(plan) >= limits["max_members"]:
            raise ArchiveError(
                f"refusing to extract {archive}: more than {limits['max_members']} members "
                f"(at {member.name!r})"
            )
        kind = (
            "a symbolic link"
            if member.issym()
            else "a hard link"
            if member.islnk()
            else "a device file"
            if member.ischr() or member.isblk()
            else "a FIFO"
            if member.isfifo()
            else None
        )
        if kind is None and not (member.isreg() or member.isdir()):
            kind = "an unsupported special file"
        if kind is not None:
            raise ArchiveError(f"refusing to extract {archive}: member {member.name!r} is {kind}")
        target = _member_target(archive, root, member.name, member.isdir())
        if member.isreg():
            total += member.size
            sizes.append((member.name, member.size))
            if total > limits["max_total_bytes"]:
                _check_totals(archive, sizes, limits["max_total_bytes"], limits["max_ratio"])
        if target is not None:
            plan.append((member, target))
    _check_totals(archive, sizes, limits["max_total_bytes"], limits["max_ratio"])
    return plan


def _plan_zip(archive: Path, zf: zipfile.ZipFile, root: Path, limits: dict):
    infos = zf.infolist()
    if len(infos) > limits["max_members"]:
        raise ArchiveError(
            f"refusing to extract {archive}: {len(infos)} members, over the limit of "
            f"{limits['max_members']} (at {infos[limits['max_members']].filename!r})"
        )
    plan, sizes = [], []
    for info in infos:
        mode = (info.external_attr >> 16) & 0xFFFF
        fmt = stat.S_IFMT(mode)
        if fmt not in (0, stat.S_IFREG, stat.S_IFDIR):
            kind = "a symbolic link" if fmt == stat.S_IFLNK else "a special file"
            raise ArchiveError(f"refusing to extract {archive}: member {info.filename!r} is {kind}")
        if info.flag_bits & 0x1:
            raise ArchiveError(
                f"refusing to extract {archive}: member {info.filename!r} is encrypted"
            )
        is_dir = info.is_dir() or fmt == stat.S_IFDIR
        target = _member_target(archive, root, info.filename, is_dir)
        if not is_dir:
            sizes.append((info.filename, info.file_size))
        if target is not None:
            plan.append((info, target, is_dir))
    _check_totals(archive, sizes, limits["max_total_bytes"], limits["max_ratio"])
    return plan


class _Writer:
    """Writes planned members, enforcing sizes, and can undo what it created."""

    def __init__(self, archive: Path, root: Path, max_total_bytes: int):
        self.archive = archive
        self.root = root
        self.max_total_bytes = max_total_bytes
        self.written = 0
        self.created: list[Path] = []
        self.results: list[Path] = []

    def _mkdirs(self, path: Path) -> None:
        missing = []
        p = path
        while not p.exists() and p != self.root:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self.created.append(d)
        if not path.is_dir():
            raise ArchiveError(f"cannot extract {self.archive}: {path} exists and is not a folder")

    def directory(self, target: Path) -> None:
        self._mkdirs(target)
        self.results.append(target)

    def file(self, name: str, target: Path, declared: int, source) -> None:
        self._mkdirs(target.parent)
        real = os.path.realpath(target)
        if os.path.commonpath([str(self.root), real]) != str(self.root):
            raise ArchiveError(f"refusing to extract {self.archive}: member {name!r} escapes")
        existed = os.path.lexists(target)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(target, flags, 0o644)
        except OSError as exc:
            raise ArchiveError(
                f"cannot extract {self.archive}: member {name!r} cannot be written to "
                f"{target} ({exc})"
            ) from exc
        if not existed:
            self.created.append(target)
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                self.written += len(chunk)
                if size > declared:
                    raise ArchiveError(
                        f"refusing to extract {self.archive}: member {name!r} holds more than "
                        f"its declared {declared} bytes"
                    )
                if self.written > self.max_total_bytes:
                    raise ArchiveError(
                        f"refusing to extract {self.archive}: over {self.max_total_bytes} "
                        f"bytes written (at member {name!r})"
                    )
                out.write(chunk)
        self.results.append(target)

    def undo(self) -> None:
        for path in reversed(self.created):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                else:
                    path.unlink()


def _archive_kind(archive: Path) -> str:
    with open(archive, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK" and zipfile.is_zipfile(archive):
        return "zip"
    return "tar"


def safe_extract(
    archive_path: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    max_total_bytes: int = 2 * 1024**3,
    max_members: int = 100_000,
    max_ratio: float = 200,
) -> list[Path]:
    """Extract a tar (plain, gzip, bzip2, xz) or zip archive, refusing anything unsafe.

    The whole member list is checked before anything is written. Refused: absolute paths,
    ``..`` components, names resolving outside ``dest`` (also through links already in
    ``dest``), symbolic and hard links, device files, FIFOs, encrypted zip members, more than
    ``max_members`` members, and likely decompression bombs. Sizes are enforced again while
    writing; if writing fails, the files and folders this call created are removed. Files
    are written with mode 0644 (archive permissions and owners are ignored).

    Parameters
    ----------
    archive_path : str or path-like
        The archive. Its format is recognised from its content, not its name.
    dest : str or path-like
        Destination folder; created when missing.
    max_total_bytes : int
        Largest total of the members' sizes (declared, and actually written).
    max_members : int
        Largest number of members.
    max_ratio : float
        Largest ratio of the members' total size to the archive's size on disk. Only applied
        when the members add up to more than 1 MiB.

    Returns
    -------
    list of pathlib.Path
        The extracted files and folders, in archive order.

    Raises
    ------
    ArchiveError
        When the archive is unsafe, corrupt or unreadable; the message names the archive
        and, where there is one, the offending member.
    """
    archive = Path(archive_path)
    if not archive.is_file():
        raise ArchiveError(f"cannot extract {archive}: no such file")
    limits = dict(max_total_bytes=max_total_bytes, max_members=max_members, max_ratio=max_ratio)
    dest_path = Path(dest)
    dest_path.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.realpath(dest_path))
    writer = _Writer(archive, root, max_total_bytes)
    try:
        if _archive_kind(archive) == "zip":
            with zipfile.ZipFile(archive) as zf:
                plan = _plan_zip(archive, zf, root, limits)
                for info, target, is_dir in plan:
                    if is_dir:
                        writer.directory(target)
                    else:
                        with zf.open(info) as src:
                            writer.file(info.filename, target, info.file_size, src)
        else:
            with tarfile.open(archive, "r:*") as tf:
                plan = _plan_tar(archive, tf, root, limits)
                for member, target in plan:
                    if member.isdir():
                        writer.directory(target)
                    else:
                        src = tf.extractfile(member)
                        writer.file(member.name, target, member.size, src)
    except ArchiveError:
        writer.undo()
        raise
    except (*_READ_ERRORS, NotImplementedError) as exc:
        writer.undo()
        detail = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
        raise ArchiveError(
            f"cannot extract {archive}: it is corrupt or not a tar, tar.gz/tgz, tar.bz2, "
            f"tar.xz or zip archive ({detail})"
        ) from exc
    except BaseException:
        writer.undo()
        raise
    return writer.results


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


def _offline_hint(url: str, reason: object) -> str:
    return (
        f"could not download {url}: {reason}. The network may be unavailable (or the address "
        "is wrong). Without a network, use make_woodcock_dataset() (or make_preset_dataset()) "
        "to generate the built-in woodcock-like dataset instead."
    )


def _find_labels(paths: Iterable[Path]) -> Path | None:
    found = [p for p in paths if p.name == LABELS_FILENAME and p.is_file()]
    return min(found, key=lambda p: (len(p.parts), str(p))) if found else None


def download_woodcock(
    dest: str | os.PathLike,
    url: str = WOODCOCK_URL,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    progress: Progress | None = None,
) -> Path:
    """Download the tutorial's labeled woodcock clips and extract them safely.

    The archive is streamed to a temporary file inside ``dest``, checked against ``sha256``
    when given, extracted with :func:`safe_extract`, and the temporary file is always
    removed, whatever happens.

    Parameters
    ----------
    dest : str or path-like
        Folder to extract into (created when missing); the archive holds a
        ``woodcock_labeled_data`` folder.
    url : str
        ``http``, ``https`` or ``file`` URL of a tar or zip archive.
    sha256 : str, optional
        Expected SHA-256 of the archive, as 64 hex digits.
    timeout : float
        Seconds to wait for the server on connecting and on each read.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total)`` while downloading; ``bytes_total``
        is 0 when the server does not say.

    Returns
    -------
    pathlib.Path
        The extracted ``woodcock_labels.csv`` (the shallowest one, if several).

    Raises
    ------
    DownloadError
        When the download fails (the message names the URL and suggests the built-in
        dataset), the checksum differs, or the archive holds no ``woodcock_labels.csv``.
    ArchiveError
        When the archive is unsafe or corrupt (nothing is extracted then).
    ValueError
        When ``sha256`` is not 64 hex digits.
    """
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise DownloadError(
            f"cannot download {url!r}: only http, https and file URLs are supported"
        )
    expected = None
    if sha256 is not None:
        expected = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", expected):
            raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    dest_path = Path(dest)
    dest_path.mkdir(parents=True, exist_ok=True)

    fd, tmp_name = tempfile.mkstemp(prefix=".woodcock-download-", suffix=".part", dir=dest_path)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "woodcock_widgets"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    total = int(response.headers.get("Content-Length") or 0)
                    while True:
                        chunk = response.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except urllib.error.HTTPError as exc:
                raise DownloadError(_offline_hint(url, f"HTTP {exc.code} {exc.reason}")) from exc
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise DownloadError(_offline_hint(url, reason)) from exc
        if total and done != total:
            raise DownloadError(
                _offline_hint(url, f"the transfer stopped after {done} of {total} bytes")
            )
        if done == 0:
            raise DownloadError(_offline_hint(url, "the server sent nothing"))
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; "
                "the file was discarded"
            )
        extracted = safe_extract(tmp, dest_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

    labels = _find_labels(extracted)
    if labels is None:
        raise DownloadError(
            f"the archive from {url} holds no {LABELS_FILENAME} (extracted into {dest_path})"
        )
    return labels
