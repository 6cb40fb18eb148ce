"""Tests for the data layer: the generated dataset (easy and field), the download, extraction."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import struct
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.signal import spectrogram

from woodcock_widgets.data import (
    DATASET_SIZES,
    LABELS_FILENAME,
    download_woodcock,
    fetch,
    make_sized_dataset,
    make_woodcock_dataset,
    offline,
    safe_extract,
)
from woodcock_widgets.data.synthetic import ANSWER_KEY_FILENAME, WRONG_LABEL_SHARE
from woodcock_widgets.errors import ArchiveError, DownloadError, WoodcockError

SR = 22050

# ---------------------------------------------------------------------------------------------
# generated dataset
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    """The original tutorial's 29 clips, ``easy``: clean and well separated."""
    out = tmp_path_factory.mktemp("default")
    csv_path = make_woodcock_dataset(out, difficulty="easy")
    return csv_path, pd.read_csv(csv_path)


def _peent_band_ratio(x: np.ndarray, sr: int) -> float:
    """Energy in 2.3-3.8 kHz in the loudest 0.25 s window over the clip's median frame."""
    f, t, s = spectrogram(x, sr, window="hann", nperseg=512, noverlap=256)
    band = s[(f >= 2300) & (f <= 3800)].sum(axis=0)
    w = int(round(0.25 / (t[1] - t[0])))
    rolling = np.convolve(band, np.ones(w) / w, mode="valid")
    return float(rolling.max() / np.median(band))


def _excess_peak_hz(x: np.ndarray, sr: int) -> float:
    """Centre of the ~200 Hz band (300-8000 Hz) that rises most above its own median."""
    f, t, s = spectrogram(x, sr, window="hann", nperseg=512, noverlap=256)
    keep = (f >= 300) & (f <= 8000)
    s, f = s[keep], f[keep]
    m = (len(f) // 5) * 5
    bands = s[:m].reshape(-1, 5, s.shape[1]).sum(axis=1)
    centres = f[:m].reshape(-1, 5).mean(axis=1)
    w = int(round(0.08 / (t[1] - t[0])))
    smooth = np.stack([np.convolve(b, np.ones(w) / w, mode="valid") for b in bands])
    excess = smooth.max(axis=1) / np.median(bands, axis=1)
    return float(centres[excess.argmax()])


def test_default_schema_and_counts(default_set):
    csv_path, df = default_set
    assert csv_path.name == LABELS_FILENAME
    assert list(df.columns) == ["filename", "woodcock", "sound_type"]
    assert len(df) == 29
    assert df.sound_type.value_counts().to_dict() == {"song": 20, "na": 7, "call": 2}
    assert set(df.loc[df.sound_type.isin(["song", "call"]), "woodcock"]) == {"present"}
    assert set(df.loc[df.sound_type == "na", "woodcock"]) == {"absent"}
    assert df.filename.is_unique
    # plain basenames, relative to the CSV's folder, and nothing else in the folder
    assert all(Path(name).name == name and name.endswith(".wav") for name in df.filename)
    on_disk = {p.name for p in csv_path.parent.iterdir()} - {LABELS_FILENAME}
    assert on_disk == set(df.filename)
    # rows are shuffled, not grouped by kind
    assert list(df.sound_type) != sorted(df.sound_type)


def test_clips_are_mono_16bit_two_seconds_and_never_clip(default_set):
    csv_path, df = default_set
    for name in df.filename:
        info = sf.info(csv_path.parent / name)
        assert (info.samplerate, info.channels, info.frames) == (SR, 1, 2 * SR)
        assert info.subtype == "PCM_16" and info.format == "WAV"
        x, _ = sf.read(csv_path.parent / name)
        assert 0.001 < np.abs(x).max() < 0.95, name
        assert abs(x.mean()) < 0.01


def test_song_clips_have_a_visible_peent_and_call_clips_do_not(default_set):
    csv_path, df = default_set

    def ratios(kind):
        names = df.filename[df.sound_type == kind]
        return np.array([_peent_band_ratio(sf.read(csv_path.parent / n)[0], SR) for n in names])

    song, call = ratios("song"), ratios("call")
    assert np.median(song) > 10
    assert np.median(song) > 8 * np.median(call)
    # most songs stand far out; a few are faint on purpose
    assert np.mean(song > 3 * call.max()) >= 0.75
    assert call.max() < 2.0


def test_call_clips_peak_near_1khz(default_set):
    csv_path, df = default_set
    for name in df.filename[df.sound_type == "call"]:
        x, _ = sf.read(csv_path.parent / name)
        assert 700 <= _excess_peak_hz(x, SR) <= 1400, name


@pytest.mark.parametrize("difficulty", ["easy", "field"])
def test_same_seed_same_bytes_different_seed_different(tmp_path, difficulty):
    a = make_sized_dataset(tmp_path / "a", "smoke", seed=3, difficulty=difficulty)
    b = make_sized_dataset(tmp_path / "b", "smoke", seed=3, difficulty=difficulty)
    c = make_sized_dataset(tmp_path / "c", "smoke", seed=4, difficulty=difficulty)
    assert a.read_bytes() == b.read_bytes()
    names = pd.read_csv(a).filename
    assert len(names) == sum(DATASET_SIZES["smoke"].values())
    for name in names:
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()
    assert sorted(p.name for p in a.parent.iterdir()) == sorted(p.name for p in b.parent.iterdir())
    c_bytes = {p.read_bytes() for p in c.parent.glob("*.wav")}
    assert not c_bytes & {p.read_bytes() for p in a.parent.glob("*.wav")}


@pytest.mark.parametrize("difficulty", ["easy", "field"])
def test_more_clips_leave_the_first_ones_unchanged(tmp_path, difficulty):
    kw = dict(seed=1, difficulty=difficulty)
    small = make_woodcock_dataset(tmp_path / "s", n_song=2, n_call=1, n_absent=1, **kw)
    big = make_woodcock_dataset(tmp_path / "b", n_song=4, n_call=1, n_absent=3, **kw)
    big_names = set(pd.read_csv(big).filename)
    for name in pd.read_csv(small).filename:
        assert name in big_names
        assert (small.parent / name).read_bytes() == (big.parent / name).read_bytes()


def test_the_dataset_sizes_and_the_runner_presets_agree():
    from woodcock_widgets.tutorial.runner import PRESETS

    smoke = {k: PRESETS["smoke"][k] for k in ("n_song", "n_call", "n_absent")}
    assert smoke == DATASET_SIZES["smoke"]
    assert make_woodcock_dataset.__kwdefaults__["difficulty"] == "field"


@pytest.mark.parametrize("difficulty", ["easy", "field"])
def test_other_rate_and_length_and_progress(tmp_path, difficulty):
    calls = []
    csv_path = make_woodcock_dataset(
        tmp_path,
        n_song=2,
        n_call=0,
        n_absent=1,
        sample_rate=16000,
        clip_seconds=1.0,
        difficulty=difficulty,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    for row in rows:
        info = sf.info(csv_path.parent / row["filename"])
        assert (info.samplerate, info.frames) == (16000, 16000)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_song=-1), "n_song"),
        (dict(n_absent=-3), "n_absent"),
        (dict(n_song=0, n_call=0, n_absent=0), "all zero"),
        (dict(n_call=1.5), "whole number"),
        (dict(seed=-1), "seed"),
        (dict(sample_rate=4000), "sample_rate"),
        (dict(clip_seconds=0), "clip_seconds"),
        (dict(clip_seconds=0.2), "clip_seconds"),
        (dict(difficulty="hard"), "easy, field"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_woodcock_dataset(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x" / LABELS_FILENAME).exists()


def test_unknown_size(tmp_path):
    with pytest.raises(ValueError, match="smoke"):
        make_sized_dataset(tmp_path, "huge")


# ---------------------------------------------------------------------------------------------
# the field recipe
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def field_set(tmp_path_factory):
    """200 ``field`` clips (100 song, 20 call, 80 absent): the table, the answer key, the folder."""
    out = tmp_path_factory.mktemp("field")
    csv_path = make_woodcock_dataset(out, n_song=100, n_call=20, n_absent=80, seed=2)
    key = pd.read_csv(out / ANSWER_KEY_FILENAME)
    return pd.read_csv(csv_path), key, out


def test_field_is_the_default_and_keeps_the_schema_and_counts(field_set):
    df, key, out = field_set
    assert list(df.columns) == ["filename", "woodcock", "sound_type"]
    assert df.sound_type.value_counts().to_dict() == {"song": 100, "na": 80, "call": 20}
    assert df.filename.is_unique and set(df.filename) == set(key.filename)
    assert (df.filename.values == key.filename.values).all()
    assert (df.sound_type.values == key.label.values).all()
    # file names give nothing away
    assert all(name.startswith("clip_") and name.endswith(".wav") for name in df.filename)
    on_disk = {p.name for p in out.iterdir()} - {LABELS_FILENAME, ANSWER_KEY_FILENAME}
    assert on_disk == set(df.filename)


def test_field_has_the_documented_share_of_wrong_labels(field_set):
    df, key, _ = field_set
    wrong = key[key.label_is_wrong]
    pairs = round(WRONG_LABEL_SHARE * len(df) / 2)
    assert len(wrong) == 2 * pairs == 6
    assert (wrong.label != wrong.true_sound_type).all()
    assert sorted(zip(wrong.true_sound_type, wrong.label)) == sorted(
        [("song", "na")] * pairs + [("na", "song")] * pairs
    )
    right = key[~key.label_is_wrong]
    assert (right.label == right.true_sound_type).all()
    # woodcock agrees with the written sound_type, wrong or not
    expected = df.sound_type.map({"song": "present", "call": "present", "na": "absent"})
    assert (df.woodcock == expected).all()


def test_no_wrong_labels_in_small_sets(tmp_path):
    make_woodcock_dataset(tmp_path, n_song=6, n_call=2, n_absent=6, seed=3)
    assert not pd.read_csv(tmp_path / ANSWER_KEY_FILENAME).label_is_wrong.any()


def test_field_songs_range_from_loud_to_barely_audible(field_set):
    _, key, out = field_set
    songs = key[key.true_sound_type == "song"]
    snr = songs.song_snr_db
    assert snr.notna().all() and key[key.true_sound_type != "song"].song_snr_db.isna().all()
    assert snr.min() < -4 and snr.max() > 25
    assert 0.02 <= (snr < 0).mean() <= 0.15  # a few barely audible songs
    assert 0.08 <= (snr < 8).mean() <= 0.3  # and some more quiet ones; most are clear
    assert 0.03 <= songs.song_cut_by_edge.mean() <= 0.25
    # the level shows in the audio: loud songs stand out of their band far more than faint
    loud = songs[snr > 15].filename[:8]
    faint = songs[snr < 0].filename[:8]
    ratio = {name: _peent_band_ratio(sf.read(out / name)[0], SR) for name in [*loud, *faint]}
    assert np.median([ratio[n] for n in loud]) > 3 * np.median([ratio[n] for n in faint])


def test_field_absent_clips_hold_nighthawks_that_look_like_songs(field_set):
    _, key, out = field_set
    absent = key[key.true_sound_type == "na"]
    assert 0.03 <= absent.nighthawk.mean() <= 0.3
    assert not key[key.true_sound_type == "call"].nighthawk.any()
    # a nighthawk's peent raises the same band as a woodcock's: band energy alone cannot tell
    hawks = absent[absent.nighthawk & ~absent.sounds.str.contains("frogs|insects")]
    quiet = absent[~absent.nighthawk & (absent.sounds.isin(["noise", "wind"]))]
    assert len(hawks) >= 3 and len(quiet) >= 3
    hawk_ratio = [_peent_band_ratio(sf.read(out / n)[0], SR) for n in hawks.filename]
    quiet_ratio = [_peent_band_ratio(sf.read(out / n)[0], SR) for n in quiet.filename]
    assert np.median(hawk_ratio) > 3 * np.median(quiet_ratio)


def test_field_ambience_comes_with_any_label(field_set):
    _, key, _ = field_set
    for sound in ("frogs", "insects", "rain", "wind", "birds"):
        has = key.sounds.str.split("+").apply(lambda parts, s=sound: s in parts)
        kinds = set(key.true_sound_type[has])
        assert {"song", "na"} <= kinds, (sound, kinds)
    # and sounds overlap: many clips hold three or more sources
    assert (key.sounds.str.count(r"\+") >= 2).mean() > 0.15


# ---------------------------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------------------------


def _tutorial_like_archive(tmp_path: Path, with_csv: bool = True) -> Path:
    src = tmp_path / "src" / "woodcock_labeled_data"
    src.mkdir(parents=True)
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, SR // 4)
    sf.write(src / "abc.wav", noise, SR, subtype="PCM_16")
    if with_csv:
        (src / LABELS_FILENAME).write_text("filename,woodcock,sound_type\nabc.wav,present,song\n")
    archive = tmp_path / "woodcock_labeled_data.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname="woodcock_labeled_data")
    return archive


def test_download_from_file_url(tmp_path):
    archive = _tutorial_like_archive(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "dest"
    seen = []
    labels = download_woodcock(
        dest, archive.as_uri(), sha256=digest.upper(), progress=lambda d, t: seen.append((d, t))
    )
    assert labels == dest / "woodcock_labeled_data" / LABELS_FILENAME
    assert pd.read_csv(labels).filename.tolist() == ["abc.wav"]
    assert sf.info(labels.parent / "abc.wav").frames == SR // 4
    assert seen and seen[-1][0] == archive.stat().st_size
    # the downloaded archive itself is gone
    assert sorted(p.name for p in dest.iterdir()) == ["woodcock_labeled_data"]


def test_download_checksum_mismatch_leaves_nothing(tmp_path):
    archive = _tutorial_like_archive(tmp_path)
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError) as info:
        download_woodcock(dest, archive.as_uri(), sha256="0" * 64)
    assert "0" * 64 in str(info.value) and actual in str(info.value)
    assert list(dest.iterdir()) == []


def test_download_bad_checksum_argument(tmp_path):
    archive = _tutorial_like_archive(tmp_path)
    with pytest.raises(ValueError, match="sha256"):
        download_woodcock(tmp_path / "d", archive.as_uri(), sha256="abc")


def test_download_archive_without_labels(tmp_path):
    archive = _tutorial_like_archive(tmp_path, with_csv=False)
    with pytest.raises(DownloadError, match=LABELS_FILENAME):
        download_woodcock(tmp_path / "dest", archive.as_uri())


def _online(monkeypatch) -> None:
    """Allow downloads (the test suite runs offline) and keep proxies out of the way."""
    monkeypatch.delenv("WOODCOCK_OFFLINE", raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_download_unreachable_is_quick_and_helpful(tmp_path, monkeypatch):
    _online(monkeypatch)
    url = "http://127.0.0.1:9/x.tar.gz"
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_woodcock(tmp_path / "dest", url, timeout=3, cache_dir=tmp_path / "cache")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert url in message and "network" in message and "make_woodcock_dataset" in message
    assert isinstance(info.value, WoodcockError)
    assert list((tmp_path / "dest").iterdir()) == []
    assert not any((tmp_path / "cache").glob("*woodcock*"))


@pytest.mark.parametrize(
    "value, is_offline", [("1", True), ("yes", True), ("0", False), ("", False)]
)
def test_the_offline_switch(monkeypatch, value, is_offline):
    monkeypatch.setenv("WOODCOCK_OFFLINE", value)
    assert offline() is is_offline


def test_offline_means_no_request_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("WOODCOCK_OFFLINE", "1")
    with _Server(tmp_path, {}) as server:
        url = server.url("x.tar.gz")
        with pytest.raises(DownloadError) as info:
            download_woodcock(tmp_path / "dest", url, cache_dir=tmp_path / "cache")
        assert server.requests == []
    message = str(info.value)
    assert url in message and "WOODCOCK_OFFLINE" in message and "make_woodcock_dataset" in message
    assert list((tmp_path / "dest").iterdir()) == []
    # file:// URLs are no network: they work offline (see test_download_from_file_url)


class _Server:
    """A local HTTP server in a thread that serves ``files`` (name -> bytes) and logs paths."""

    def __init__(self, tmp_path: Path, files: dict[str, bytes]):
        import http.server
        import threading

        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the standard library's name
                server.requests.append(self.path)
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.files = files
        self.requests: list[str] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_over_http_is_checked_and_cached(tmp_path, monkeypatch):
    _online(monkeypatch)
    archive = _tutorial_like_archive(tmp_path)
    data = archive.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    cache = tmp_path / "cache"
    seen = []
    with _Server(tmp_path, {"woodcock.tar.gz": data}) as server:
        url = server.url("woodcock.tar.gz")
        labels = download_woodcock(
            tmp_path / "a", url, sha256=digest, cache_dir=cache, progress=lambda *p: seen.append(p)
        )
        assert server.requests == ["/woodcock.tar.gz"]
        assert seen[-1] == (len(data), len(data))
        # a second download of the same archive comes from the cache: no request
        again = download_woodcock(tmp_path / "b", url, sha256=digest, cache_dir=cache)
        assert server.requests == ["/woodcock.tar.gz"]
    assert pd.read_csv(labels).filename.tolist() == ["abc.wav"]
    assert (again.parent / "abc.wav").read_bytes() == (labels.parent / "abc.wav").read_bytes()
    [cached] = cache.iterdir()
    assert cached.read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["woodcock_labeled_data"]


def test_http_checksum_mismatch_and_missing_file_leave_nothing(tmp_path, monkeypatch):
    _online(monkeypatch)
    archive = _tutorial_like_archive(tmp_path)
    cache = tmp_path / "cache"
    with _Server(tmp_path, {"w.tar.gz": archive.read_bytes()}) as server:
        with pytest.raises(DownloadError, match="checksum mismatch") as info:
            download_woodcock(
                tmp_path / "d", server.url("w.tar.gz"), sha256="0" * 64, cache_dir=cache
            )
        assert "0" * 64 in str(info.value)
        with pytest.raises(DownloadError, match="HTTP 404") as info:
            download_woodcock(tmp_path / "d", server.url("gone.tar.gz"), cache_dir=cache)
        assert server.url("gone.tar.gz") in str(info.value)
    assert list((tmp_path / "d").iterdir()) == []
    assert list(cache.iterdir()) == []


def test_fetch_checks_a_sha256_prefix(tmp_path):
    payload = tmp_path / "weights.bin"
    payload.write_bytes(b"some weights")
    prefix = hashlib.sha256(b"some weights").hexdigest()[:8]
    got = fetch(payload.as_uri(), tmp_path / "cache", "w.bin", sha256_prefix=prefix)
    assert got == tmp_path / "cache" / "w.bin" and got.read_bytes() == b"some weights"
    with pytest.raises(DownloadError, match="checksum"):
        fetch(payload.as_uri(), tmp_path / "other", "w.bin", sha256_prefix="00000000")
    assert list((tmp_path / "other").iterdir()) == []
    with pytest.raises(ValueError, match="sha256_prefix"):
        fetch(payload.as_uri(), tmp_path / "x", sha256_prefix="xyz")


def test_download_missing_file_and_bad_scheme(tmp_path):
    with pytest.raises(DownloadError, match="nope.tar.gz"):
        download_woodcock(tmp_path / "d", (tmp_path / "nope.tar.gz").as_uri())
    assert list((tmp_path / "d").iterdir()) == []
    with pytest.raises(DownloadError, match="only http"):
        download_woodcock(tmp_path / "d", "ftp://example.org/x.tar.gz")


def test_download_of_hostile_archive_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        _add_bytes(tf, "../escaped.txt", b"gotcha")
    dest = tmp_path / "dest"
    with pytest.raises(ArchiveError, match="escaped.txt"):
        download_woodcock(dest, archive.as_uri())
    assert not (tmp_path / "escaped.txt").exists()
    assert list(dest.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# safe extraction
# ---------------------------------------------------------------------------------------------


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def _add_special(tf: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tf.addfile(info)


def test_extracts_tar_gz_and_zip(tmp_path):
    tgz = tmp_path / "ok.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        _add_special(tf, "top", tarfile.DIRTYPE)
        _add_bytes(tf, "top/a.txt", b"alpha")
        _add_bytes(tf, "top/deep/er/b.txt", b"beta")
        _add_bytes(tf, "./c.txt", b"gamma")
    paths = safe_extract(tgz, tmp_path / "t")
    assert (tmp_path / "t/top/a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "t/top/deep/er/b.txt").read_bytes() == b"beta"
    assert (tmp_path / "t/c.txt").read_bytes() == b"gamma"
    root = (tmp_path / "t").resolve()
    assert [p.relative_to(root).as_posix() for p in paths] == [
        "top",
        "top/a.txt",
        "top/deep/er/b.txt",
        "c.txt",
    ]
    assert stat.S_IMODE(os.stat(tmp_path / "t/top/a.txt").st_mode) & 0o7000 == 0

    zpath = tmp_path / "ok.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("folder/", b"")
        zf.writestr("folder/x.csv", b"a,b\n1,2\n")
    safe_extract(zpath, tmp_path / "z")
    assert (tmp_path / "z/folder/x.csv").read_bytes() == b"a,b\n1,2\n"


def test_tar_permissions_and_owners_are_dropped(tmp_path):
    archive = tmp_path / "modes.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("run.sh")
        info.size, info.mode, info.uid, info.uname = 2, 0o6777, 0, "root"
        tf.addfile(info, io.BytesIO(b"hi"))
    [path] = safe_extract(archive, tmp_path / "d")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & 0o7022 == 0 and mode & 0o600 == 0o600


def _tar_with(tmp_path: Path, build) -> Path:
    path = tmp_path / "hostile.tar"
    with tarfile.open(path, "w") as tf:
        build(tf)
    return path


def _zip_with(tmp_path: Path, build) -> Path:
    path = tmp_path / "hostile.zip"
    with zipfile.ZipFile(path, "w") as zf:
        build(zf)
    return path


def _zip_symlink(zf: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, "/etc/passwd")


def _zip_chardev(zf: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("dev")
    info.external_attr = (stat.S_IFCHR | 0o666) << 16
    zf.writestr(info, "")


HOSTILE = {
    "absolute": (
        "tar",
        lambda tf, sentinel: _add_bytes(tf, str(sentinel), b"x"),
        "absolute",
    ),
    "dotdot": ("tar", lambda tf, sentinel: _add_bytes(tf, "../sentinel", b"x"), "'..'"),
    "dotdot-nested": (
        "tar",
        lambda tf, sentinel: (
            _add_bytes(tf, "ok.txt", b"ok"),
            _add_bytes(tf, "a/../../sentinel", b"x"),
        ),
        "'..'",
    ),
    "symlink": (
        "tar",
        lambda tf, sentinel: _add_special(tf, "passwd", tarfile.SYMTYPE, "/etc/passwd"),
        "symbolic link",
    ),
    "symlink-then-write": (
        "tar",
        lambda tf, sentinel: (
            _add_special(tf, "up", tarfile.SYMTYPE, ".."),
            _add_bytes(tf, "up/sentinel", b"x"),
        ),
        "symbolic link",
    ),
    "symlink-inside": (  # the tar filter alone would allow it; a clip archive needs no links
        "tar",
        lambda tf, sentinel: (
            _add_bytes(tf, "target.txt", b"x"),
            _add_special(tf, "link", tarfile.SYMTYPE, "target.txt"),
        ),
        "symbolic link",
    ),
    "hardlink": (
        "tar",
        lambda tf, sentinel: _add_special(tf, "hl", tarfile.LNKTYPE, str(sentinel)),
        "hard link",
    ),
    "chardev": ("tar", lambda tf, sentinel: _add_special(tf, "null", tarfile.CHRTYPE), "device"),
    "fifo": ("tar", lambda tf, sentinel: _add_special(tf, "pipe", tarfile.FIFOTYPE), "FIFO"),
    "zip-dotdot": ("zip", lambda zf, sentinel: zf.writestr("../sentinel", b"x"), "'..'"),
    "zip-absolute": ("zip", lambda zf, sentinel: zf.writestr(str(sentinel), b"x"), "absolute"),
    "zip-backslash": ("zip", lambda zf, sentinel: zf.writestr("..\\sentinel", b"x"), "'..'"),
    "zip-symlink": ("zip", lambda zf, sentinel: _zip_symlink(zf), "symbolic link"),
    "zip-chardev": ("zip", lambda zf, sentinel: _zip_chardev(zf), "special file"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_before_writing(tmp_path, case):
    fmt, build, why = HOSTILE[case]
    sentinel = tmp_path / "sentinel"
    maker = _tar_with if fmt == "tar" else _zip_with
    archive = maker(tmp_path, lambda arc: build(arc, sentinel))
    dest = tmp_path / "dest"
    with pytest.raises(ArchiveError) as info:
        safe_extract(archive, dest)
    message = str(info.value)
    assert str(archive) in message and why in message
    assert not sentinel.exists() and not os.path.lexists(sentinel)
    assert list(dest.iterdir()) == []


def test_existing_symlink_in_dest_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "data").symlink_to(outside)
    archive = _tar_with(tmp_path, lambda tf: _add_bytes(tf, "data/file.txt", b"x"))
    with pytest.raises(ArchiveError, match="outside"):
        safe_extract(archive, dest)
    assert list(outside.iterdir()) == []


class _Zeros(io.RawIOBase):
    """A readable stream of ``n`` zero bytes, produced on demand."""

    def __init__(self, n: int):
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        k = min(len(buf), self.left)
        buf[:k] = bytes(k)
        self.left -= k
        return k


def test_gzip_bomb_is_refused(tmp_path):
    size = 300 * 1024**2
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tf.addfile(info, io.BufferedReader(_Zeros(size), buffer_size=1024**2))
    assert archive.stat().st_size * 200 < size  # it really is a bomb
    dest = tmp_path / "dest"
    with pytest.raises(ArchiveError, match="zeros.bin") as info:
        safe_extract(archive, dest)
    assert "bomb" in str(info.value) and str(archive) in str(info.value)
    assert list(dest.iterdir()) == []


def test_total_size_and_member_count_limits(tmp_path):
    archive = tmp_path / "many.tar"
    with tarfile.open(archive, "w") as tf:
        for i in range(5):
            _add_bytes(tf, f"f{i}.bin", bytes(400))
    with pytest.raises(ArchiveError, match="limit of 1000 bytes"):
        safe_extract(archive, tmp_path / "a", max_total_bytes=1000)
    with pytest.raises(ArchiveError, match="more than 3 members"):
        safe_extract(archive, tmp_path / "b", max_members=3)
    assert list((tmp_path / "a").iterdir()) == [] and list((tmp_path / "b").iterdir()) == []
    assert len(safe_extract(archive, tmp_path / "c")) == 5


def test_ratio_limit_on_a_zip(tmp_path):
    archive = tmp_path / "zeros.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(4 * 1024**2))
    with pytest.raises(ArchiveError, match="zeros.bin"):
        safe_extract(archive, tmp_path / "d", max_ratio=50)
    assert list((tmp_path / "d").iterdir()) == []


def test_zip_member_larger_than_declared(tmp_path):
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar.txt", b"y" * 10_000)
    data = bytearray(archive.read_bytes())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)  # declared uncompressed size: 10 bytes
    archive.write_bytes(bytes(data))
    dest = tmp_path / "d"
    with pytest.raises(ArchiveError, match="liar"):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("kind", ["garbage.tar.gz", "truncated.tar.gz", "empty.zip"])
def test_corrupt_archives(tmp_path, kind):
    archive = tmp_path / kind
    if kind == "garbage.tar.gz":
        archive.write_bytes(b"\x1f\x8b" + os.urandom(4000))
    elif kind == "truncated.tar.gz":
        good = tmp_path / "good.tar.gz"
        with tarfile.open(good, "w:gz") as tf:
            _add_bytes(tf, "a.bin", np.random.default_rng(1).bytes(200_000))
        archive.write_bytes(good.read_bytes()[:50_000])
    else:
        archive.write_bytes(b"PK\x03\x04 not really a zip")
    dest = tmp_path / "d"
    with pytest.raises(ArchiveError, match=kind):
        safe_extract(archive, dest)
    assert [p for p in dest.iterdir()] == []


def test_missing_archive(tmp_path):
    with pytest.raises(ArchiveError, match="no such file"):
        safe_extract(tmp_path / "nothing.tar", tmp_path / "d")
