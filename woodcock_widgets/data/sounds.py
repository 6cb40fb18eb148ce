"""The sounds the built-in data set is made of (the ``easy`` recipe's, unchanged).

Each source returns float samples for a clip of ``n`` samples at ``sr`` Hz, drawing every
random choice from the generator it is given, in a fixed order, so a clip is a pure function
of its seed. :class:`Mixer` adds them to a background at a signal-to-noise ratio measured in
a frequency band. ``field.py`` adds the field recipe's extra voices.
"""

from __future__ import annotations

import numpy as np


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def ramp_envelope(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    """Flat envelope with raised-cosine attack and release (lengths in seconds)."""
    env = np.ones(n)
    a = min(n // 2, max(1, int(attack * sr)))
    r = min(n - a, max(1, int(release * sr)))
    env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[n - r :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, r + 1) / r)
    return env


def slow_wobble(rng: np.random.Generator, n: int, points: int = 6) -> np.ndarray:
    """Smooth random curve in [-1, 1] through a few random points (for drift and jitter)."""
    knots = rng.uniform(-1.0, 1.0, points)
    return np.interp(np.linspace(0, points - 1, n), np.arange(points), knots)


def spectral_noise(rng: np.random.Generator, n: int, sr: int, gain_fn) -> np.ndarray:
    """Gaussian noise shaped in the frequency domain by ``gain_fn(freqs)``; unit RMS."""
    m = n // 2 + 1
    spec = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    x = np.fft.irfft(spec * gain_fn(freqs), n)
    return x / (rms(x) + 1e-12)


def band_rms(power: np.ndarray, freqs: np.ndarray, n: int, lo: float, hi: float) -> float:
    """RMS of the part of a signal between ``lo`` and ``hi`` Hz, from ``|rfft|**2``."""
    band = (freqs >= lo) & (freqs <= hi)
    return float(np.sqrt(2.0 * power[band].sum()) / n)


def background(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Field-recorder background: pink-to-brown noise, sensor hiss and gusty wind rumble."""
    t = np.arange(n) / sr
    exponent = rng.uniform(0.8, 1.8)  # 1 = pink, 2 = brown
    colored = spectral_noise(
        rng, n, sr, lambda f: (f >= 20.0) * (np.maximum(f, 20.0) / 20.0) ** (-exponent / 2)
    )
    hiss = spectral_noise(rng, n, sr, lambda f: (f >= 20.0).astype(float))
    x = colored + hiss * 10 ** (rng.uniform(-34, -22) / 20)
    if rng.random() < 0.65:
        cutoff = rng.uniform(120.0, 400.0)
        wind = spectral_noise(rng, n, sr, lambda f: 1.0 / (1.0 + (f / cutoff) ** 4))
        gust = np.zeros(n)
        for _ in range(3):
            gust += rng.uniform(0.3, 1.0) * np.sin(
                2 * np.pi * rng.uniform(0.1, 1.5) * t + rng.uniform(0, 2 * np.pi)
            )
        gust = 0.25 + 0.75 * (gust - gust.min()) / (np.ptp(gust) + 1e-12)
        x = x + wind * gust * 10 ** (rng.uniform(-10, 8) / 20)
    floor_rms = 10 ** (rng.uniform(-46, -32) / 20)
    return x * (floor_rms / rms(x))


def peent(rng: np.random.Generator, n: int, sr: int, start: float, dur: float) -> np.ndarray:
    """The buzzy, nasal "peent": an amplitude-modulated harmonic stack near 3 kHz."""
    out = np.zeros(n)
    i0 = int(start * sr)
    m = min(n - i0, int(dur * sr))
    tt = np.arange(m) / sr
    u = tt / dur
    fc = rng.uniform(2500.0, 3500.0)
    # slight arch in pitch, a small downward drift, and a little wobble
    contour = 1 + rng.uniform(0.02, 0.06) * np.sin(np.pi * u) - rng.uniform(0.0, 0.05) * u
    contour *= 1 + 0.004 * slow_wobble(rng, m)
    phase = 2 * np.pi * np.cumsum(fc * contour) / sr
    # the buzz: fast pulsed amplitude modulation gives dense sidebands around each harmonic
    fb = rng.uniform(70.0, 150.0) * (1 + 0.05 * slow_wobble(rng, m, 4))
    buzz = 0.5 + 0.5 * np.cos(2 * np.pi * np.cumsum(fb) / sr + rng.uniform(0, 2 * np.pi))
    depth = rng.uniform(0.7, 0.95)
    am = 1 - depth + depth * buzz ** rng.uniform(2.0, 5.0)
    # a little breathy noise riding on the buzz makes the note "nasal" rather than tonal
    # (slow phase noise: it widens each harmonic by a few hundred Hz)
    breath = spectral_noise(rng, m, sr, lambda f: 1.0 / (1.0 + (f / 250.0) ** 4))
    breath *= rng.uniform(0.2, 0.6)
    rolloff = rng.uniform(0.3, 0.7)  # distant birds lose their upper harmonics
    sig = np.zeros(m)
    for h in range(1, 6):
        if h * fc * 1.08 + 6 * fb.max() > 0.45 * sr:
            break
        amp = rolloff ** (h - 1) * rng.uniform(0.7, 1.3)
        sig += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi) + breath)
    env = ramp_envelope(m, sr, rng.uniform(0.008, 0.025), rng.uniform(0.03, 0.07))
    env *= 1 + 0.15 * slow_wobble(rng, m, 4)
    out[i0 : i0 + m] = sig * am * env
    return out


def tuko(rng: np.random.Generator, n: int, sr: int, start: float) -> np.ndarray:
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


def chirps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
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


def insect(rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, float, float]:
    """A steady, pulsing high buzz band (cricket/katydid-like); returns its band too."""
    if rng.random() < 0.2:
        fc = rng.uniform(2600.0, 3800.0)  # sometimes right in the peent band
    else:
        fc = rng.uniform(4000.0, min(9500.0, 0.42 * sr))
    bw = rng.uniform(150.0, 800.0)
    sig = spectral_noise(rng, n, sr, lambda f: np.exp(-0.5 * ((f - fc) / (bw / 2.355)) ** 2))
    t = np.arange(n) / sr
    sig *= 1 - rng.uniform(0.2, 0.9) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(15, 60) * t))
    i0 = int(rng.uniform(0.0, 0.4) * n)
    i1 = n - int(rng.uniform(0.0, 0.4) * n)
    gate = np.zeros(n)
    gate[i0:i1] = ramp_envelope(i1 - i0, sr, 0.02, 0.02)
    return sig * gate, fc - bw, fc + bw


def whistle(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A pure, gliding whistle (a tonal bird note) between 2 and 5 kHz."""
    out = np.zeros(n)
    dur = rng.uniform(0.1, 0.45)
    i0 = int(rng.uniform(0.0, max(0.0, n / sr - dur)) * sr)
    m = min(n - i0, int(dur * sr))
    u = np.arange(m) / m
    f0 = rng.uniform(2000.0, 5000.0)
    f = f0 * (1 + rng.uniform(-0.15, 0.15) * u)
    out[i0 : i0 + m] = np.sin(2 * np.pi * np.cumsum(f) / sr) * ramp_envelope(m, sr, 0.02, 0.04)
    return out


def clicks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A few broadband clicks (rain drops, twigs)."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(1, 7))):
        m = int(rng.uniform(0.002, 0.008) * sr)
        i0 = int(rng.integers(0, n - m))
        decay = np.exp(-np.arange(m) / (m / 4))
        out[i0 : i0 + m] += rng.standard_normal(m) * decay * rng.uniform(0.3, 1.0)
    return out


class Mixer:
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
        level = rms(event[active])
        if level == 0:
            return
        noise = band_rms(self._power, self._freqs, self.n, lo, min(hi, 0.5 * self.sr))
        self.mix += event * (noise * 10 ** (snr_db / 20) / level)


def distractors(mixer: Mixer, rng: np.random.Generator, probs: dict[str, float]) -> None:
    """Add other birds, an insect, a whistle and clicks, each with its probability."""
    n, sr = mixer.n, mixer.sr
    if rng.random() < probs["chirps"]:
        mixer.add(chirps(rng, n, sr), rng.uniform(0.0, 25.0), 2000.0, 8000.0)
    if rng.random() < probs["insect"]:
        sig, lo, hi = insect(rng, n, sr)
        mixer.add(sig, rng.uniform(0.0, 15.0), lo, hi)
    if rng.random() < probs["whistle"]:
        mixer.add(whistle(rng, n, sr), rng.uniform(3.0, 20.0), 2000.0, 5000.0)
    if rng.random() < probs["clicks"]:
        mixer.add(clicks(rng, n, sr), rng.uniform(5.0, 20.0), 20.0, 0.5 * sr)
