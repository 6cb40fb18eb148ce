"""The ``field`` recipe: clips that sound like a night in a spring meadow, not a lab.

What makes it harder than ``easy`` (see :func:`field_clip`):

* **loudness**: a song's peent is anywhere from loud to barely above the noise (about one song
  in sixteen is barely audible, one in eight quiet);
* **clip edges**: one song in ten is cut by the start or the end of the clip;
* **the confuser**: a Common Nighthawk's "peent" — nasal and buzzy in the same band, a little
  higher and harsher — in about one clip in eight without a woodcock (and a few with one);
* **ambience, whatever the label**: frog choruses (peeper whistles and chorus-frog trills at
  2-3.5 kHz, right in the peent's band), insect choruses, rain, strong wind, other birds;
  sounds overlap freely;
* **wrong labels**: :func:`choose_wrong_labels` picks a documented share of clips whose label
  is swapped, as in real labeled sets (a faint song marked absent, a nighthawk marked song).
"""

from __future__ import annotations

import math

import numpy as np

from .sounds import (
    Mixer,
    background,
    chirps,
    clicks,
    insect,
    peent,
    ramp_envelope,
    rms,
    slow_wobble,
    spectral_noise,
    tuko,
    whistle,
)

__all__ = ["WRONG_LABEL_SHARE", "choose_wrong_labels", "field_clip"]

#: Share of clips whose label is wrong in the ``field`` set: ``round(share * clips / 2)`` song
#: clips are labeled absent and as many absent clips are labeled song (about 3 %; none in sets
#: under 17 clips). The label counts stay as asked.
WRONG_LABEL_SHARE = 0.03

PEAK_LIMIT = 0.9

#: How often each sound comes and how loud, in dB over the noise in its band. Ambience:
#: ``(chance in a clip labeled present, chance otherwise, lowest dB, highest dB)``; other birds,
#: an insect, whistles and clicks come a little more often without a woodcock, as in ``easy``.
#: Tuned so that the tutorial's default run (300 clips, 5 epochs from random weights) learns
#: the set well but not perfectly: ``benchmarks/tutorial_difficulty.py`` measures it.
RECIPE = {
    "wind": 0.15,  # strong wind, besides the background's usual breeze
    "frogs": (0.12, 0.12, -8.0, 4.0),
    "insects": (0.1, 0.1, -3.0, 8.0),  # a chorus of two to four
    "insect": (0.15, 0.3, 0.0, 15.0),
    "rain": (0.08, 0.08, -3.0, 6.0),
    "birds": (0.2, 0.5, 0.0, 25.0),
    "whistle": (0.0, 0.15, 3.0, 20.0),
    "clicks": (0.1, 0.15, 5.0, 20.0),
    "faint_song": (0.06, -6.0, 0.0),  # (share of songs, dB range): barely audible
    "quiet_song": (0.12, 0.0, 8.0),
    "clear_song": (8.0, 30.0),  # the rest
    "song_start": (0.05, 60.0),  # anywhere in the clip ...
    "cut_song": 0.1,  # ... or cut by its start or end
    "two_songs": 0.1,
    "nighthawk_with_song": 0.05,
    "nighthawk_absent": 0.12,
    "nighthawk_level": (0.0, 22.0),
    "nighthawk_fc": (2900.0, 4400.0),
    "nighthawk_dur": (0.15, 0.3),
}


def _placed(voice, rng: np.random.Generator, n: int, sr: int, start: float, dur: float):
    """``voice`` starting at ``start`` seconds, which may be before 0 or run past the end."""
    pad = int(math.ceil(dur * sr)) + 1
    return voice(rng, n + 2 * pad, sr, start + pad / sr, dur)[pad : pad + n]


def nighthawk(rng: np.random.Generator, n: int, sr: int, start: float, dur: float) -> np.ndarray:
    """The Common Nighthawk's "peent": nasal and buzzy like the woodcock's, but harsher.

    A little higher (2.9-4.4 kHz against 2.5-3.5), a faster and deeper buzz, a quick rise
    then a downward slur, more upper harmonics and a noisy rasp around the fundamental.
    """
    out = np.zeros(n)
    i0 = int(start * sr)
    m = min(n - i0, int(dur * sr))
    u = np.arange(m) / (dur * sr)
    fc = rng.uniform(*RECIPE["nighthawk_fc"])
    contour = 1 + rng.uniform(0.02, 0.08) * (1 - np.exp(-u / 0.08)) - rng.uniform(0.04, 0.12) * u
    contour *= 1 + 0.006 * slow_wobble(rng, m)
    phase = 2 * np.pi * np.cumsum(fc * contour) / sr
    fb = rng.uniform(130.0, 260.0) * (1 + 0.08 * slow_wobble(rng, m, 4))
    buzz = 0.5 + 0.5 * np.cos(2 * np.pi * np.cumsum(fb) / sr + rng.uniform(0, 2 * np.pi))
    depth = rng.uniform(0.8, 1.0)
    am = 1 - depth + depth * buzz ** rng.uniform(1.5, 3.5)
    jitter = spectral_noise(rng, m, sr, lambda f: 1.0 / (1.0 + (f / 400.0) ** 4))
    jitter *= rng.uniform(0.4, 0.9)
    rolloff = rng.uniform(0.45, 0.8)
    sig = np.zeros(m)
    for h in range(1, 5):
        if h * fc * 1.1 + 6 * fb.max() > 0.45 * sr:
            break
        amp = rolloff ** (h - 1) * rng.uniform(0.7, 1.3)
        sig += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi) + jitter)
    bw = rng.uniform(500.0, 1400.0)
    rasp = spectral_noise(rng, m, sr, lambda f: np.exp(-0.5 * ((f - fc) / (bw / 2.355)) ** 2))
    sig = sig / (rms(sig) + 1e-12) + rasp * rng.uniform(0.2, 0.6)
    env = ramp_envelope(m, sr, rng.uniform(0.004, 0.012), rng.uniform(0.02, 0.05))
    out[i0 : i0 + m] = sig * am * env
    return out


def frog_chorus(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Several frogs: peeper-like rising whistles and chorus-frog pulse trills at 2-3.5 kHz."""
    out = np.zeros(n)
    seconds = n / sr
    for _ in range(int(rng.integers(3, 12))):
        level = rng.uniform(0.15, 1.0)
        if rng.random() < 0.6:  # a spring peeper: a short up-slurred whistle, over and over
            f0 = rng.uniform(2500.0, 3300.0)
            dur = rng.uniform(0.07, 0.14)
            period = rng.uniform(0.5, 1.2)
            t = rng.uniform(-period, 0.0)
            while t < seconds:
                i0, m = int(max(t, 0.0) * sr), int(dur * sr)
                m = min(m, n - i0)
                if m > 16 and t >= 0:
                    u = np.arange(m) / m
                    f = f0 * (1 + rng.uniform(0.06, 0.14) * u)
                    note = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.sin(np.pi * u) ** 2
                    out[i0 : i0 + m] += level * note
                t += period * rng.uniform(0.9, 1.1)
        else:  # a chorus frog: a trill of short pulses, like a finger run along a comb
            fc = rng.uniform(2000.0, 3400.0)
            rate = rng.uniform(12.0, 30.0)
            length = rng.uniform(0.3, 0.9)
            t = rng.uniform(-length, seconds * 0.6)
            stop = t + length
            while t < min(stop, seconds):
                i0, m = int(max(t, 0.0) * sr), int(rng.uniform(0.006, 0.014) * sr)
                m = min(m, n - i0)
                if m > 8 and t >= 0:
                    k = np.arange(m)
                    pulse = np.sin(2 * np.pi * fc * k / sr) * np.exp(-k / (m / 3))
                    out[i0 : i0 + m] += level * pulse
                t += 1.0 / rate
    return out


def insect_chorus(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Two to four insects at once (steady pulsing bands, now and then in the peent's band)."""
    return sum(insect(rng, n, sr)[0] * rng.uniform(0.3, 1.0) for _ in range(rng.integers(2, 5)))


def rain(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Rain on leaves: a broadband hiss and many drops (short bursts and resonant pings)."""
    hiss = spectral_noise(rng, n, sr, lambda f: (f >= 300.0) / (1.0 + (f / 6000.0) ** 2))
    out = hiss * rng.uniform(0.1, 0.4)
    count = rng.poisson(rng.uniform(15.0, 80.0) * n / sr)
    for _ in range(int(count)):
        m = int(rng.uniform(0.002, 0.012) * sr)
        i0 = int(rng.integers(0, max(1, n - m)))
        k = np.arange(m)
        decay = np.exp(-k / (m / 4))
        if rng.random() < 0.5:
            drop = rng.standard_normal(m)
        else:
            drop = np.sin(2 * np.pi * rng.uniform(1000.0, 7000.0) * k / sr)
        out[i0 : i0 + m] += drop * decay * rng.uniform(0.2, 1.5)
    return out


def _song_snr(rng: np.random.Generator) -> float:
    """A peent's level over the band's noise: some barely audible, some quiet, most clear."""
    u = rng.random()
    p_faint, lo, hi = RECIPE["faint_song"]
    if u < p_faint:
        return rng.uniform(lo, hi)
    p_quiet, lo, hi = RECIPE["quiet_song"]
    if u < p_faint + p_quiet:
        return rng.uniform(lo, hi)
    return rng.uniform(*RECIPE["clear_song"])


def _note_start(
    rng: np.random.Generator, seconds: float, dur: float, cut: bool, window=(0.05, 60.0)
) -> float:
    if not cut:
        return rng.uniform(window[0], min(window[1], seconds - dur - 0.05))
    if rng.random() < 0.5:
        return rng.uniform(-0.7 * dur, -0.2 * dur)  # began before the clip
    return rng.uniform(seconds - 0.8 * dur, seconds - 0.3 * dur)  # goes on after it


def _ambience(mix: Mixer, rng: np.random.Generator, present: bool, sounds: list[str]) -> None:
    """Sounds of the night, with any label (other birds and insects a bit more without one)."""
    n, sr = mix.n, mix.sr
    for name, voice, lo, hi in (
        ("frogs", frog_chorus, 2000.0, 4500.0),
        ("insects", insect_chorus, 2000.0, 9000.0),
        ("insect", insect, None, None),  # one insect, measured in its own band
        ("rain", rain, 300.0, 0.5 * sr),
        ("birds", chirps, 2000.0, 8000.0),
        ("whistle", whistle, 2000.0, 5000.0),
        ("clicks", clicks, 20.0, 0.5 * sr),
    ):
        p_present, p_absent, low, high = RECIPE[name]
        if rng.random() < (p_present if present else p_absent):
            sig = voice(rng, n, sr)
            if lo is None:
                sig, lo, hi = sig
            mix.add(sig, rng.uniform(low, high), lo, hi)
            sounds.append("insects" if name == "insect" else name)


def _add_nighthawk(mix: Mixer, rng: np.random.Generator, seconds: float, info: dict) -> None:
    dur = rng.uniform(*RECIPE["nighthawk_dur"])
    start = _note_start(rng, seconds, dur, rng.random() < 0.15)
    note = _placed(nighthawk, rng, mix.n, mix.sr, start, dur)
    mix.add(note, rng.uniform(*RECIPE["nighthawk_level"]), 2000.0, 4500.0)
    info["nighthawk"] = True
    info["sounds"].append("nighthawk")


def field_clip(kind: str, rng: np.random.Generator, sr: int, seconds: float):
    """One ``field`` clip of ``kind`` (``song``, ``call`` or ``absent``) and what is in it.

    Returns
    -------
    (numpy.ndarray, dict)
        Samples in [-0.9, 0.9]; and ``song_snr_db`` (NaN without a song), ``cut`` (a song
        cut by a clip edge), ``nighthawk`` and ``sounds`` (the sources, in mixing order).
    """
    n = int(round(seconds * sr))
    info = {"song_snr_db": float("nan"), "cut": False, "nighthawk": False, "sounds": []}
    bg = background(rng, n, sr)
    if rng.random() < RECIPE["wind"]:  # a windy night: strong low rumble with gusts
        cutoff = rng.uniform(100.0, 500.0)
        wind = spectral_noise(rng, n, sr, lambda f: 1.0 / (1.0 + (f / cutoff) ** 4))
        bg = bg + wind * rms(bg) * 10 ** (rng.uniform(6.0, 20.0) / 20) * (0.5 + slow_wobble(rng, n))
        info["sounds"].append("wind")
    mix = Mixer(bg, sr)
    _ambience(mix, rng, kind != "absent", info["sounds"])
    if kind == "song":
        snr = _song_snr(rng)
        info["song_snr_db"] = round(snr, 1)
        for j in range(2 if rng.random() < RECIPE["two_songs"] else 1):
            dur = rng.uniform(0.2, 0.3)
            cut = j == 0 and rng.random() < RECIPE["cut_song"]
            start = _note_start(rng, seconds, dur, cut, RECIPE["song_start"])
            info["cut"] = info["cut"] or cut
            mix.add(_placed(peent, rng, n, sr, start, dur), snr + rng.uniform(-2, 2), 2e3, 4.5e3)
            info["sounds"].append("peent")
            lead = start - rng.uniform(0.12, 0.35)
            if rng.random() < 0.5 and lead > 0.02:
                mix.add(tuko(rng, n, sr, lead), rng.uniform(-3.0, 12.0), 600.0, 1600.0)
                info["sounds"].append("tuko")
        if rng.random() < RECIPE["nighthawk_with_song"]:
            _add_nighthawk(mix, rng, seconds, info)
    elif kind == "call":
        for _ in range(2 if rng.random() < 0.3 else 1):
            start = rng.uniform(0.1, max(0.1, seconds - 0.15))
            mix.add(tuko(rng, n, sr, start), rng.uniform(0.0, 16.0), 600.0, 1600.0)
            info["sounds"].append("tuko")
    elif rng.random() < RECIPE["nighthawk_absent"]:  # absent: often a nighthawk, now and then two
        for _ in range(2 if rng.random() < 0.15 else 1):
            _add_nighthawk(mix, rng, seconds, info)
    x = mix.mix - mix.mix.mean()
    peak = float(np.max(np.abs(x)))
    if peak > PEAK_LIMIT:
        x *= rng.uniform(0.6, PEAK_LIMIT) / peak
    return x, info


def choose_wrong_labels(
    infos: dict[str, list[dict]], seed: int, share: float = WRONG_LABEL_SHARE
) -> set[tuple[str, int]]:
    """``(kind, index)`` of the clips whose label is swapped.

    ``round(share * clips / 2)`` song clips are labeled absent and as many absent clips are
    labeled song. Like a tired listener, the labeler errs most on faint songs and on
    nighthawks: those are three times as likely to be picked.
    """
    total = sum(len(v) for v in infos.values())
    pairs = min(math.floor(share * total / 2 + 0.5), len(infos["song"]), len(infos["absent"]))
    if pairs <= 0:
        return set()
    rng = np.random.default_rng([int(seed), 7777])
    chosen = set()
    for kind, hard in (
        ("song", lambda i: i["song_snr_db"] < 0.0),
        ("absent", lambda i: i["nighthawk"]),
    ):
        weight = np.array([3.0 if hard(i) else 1.0 for i in infos[kind]])
        picked = rng.choice(len(weight), size=pairs, replace=False, p=weight / weight.sum())
        chosen.update((kind, int(k)) for k in picked)
    return chosen
