"""Hostile archives, model bundles that carry code, and shell commands built from strings."""

from __future__ import annotations

import ast
import io
import json
import os
import pickle
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from woodcock_widgets.__main__ import main
from woodcock_widgets.data import download_woodcock, safe_extract
from woodcock_widgets.errors import ArchiveError, BundleError, TrainingError
from woodcock_widgets.ml.bundle import BUNDLE_FORMAT, ModelBundle, read_bundle_payload
from woodcock_widgets.workflow.pipeline import resume_trainer

from ._helpers import ROOT

pytestmark = pytest.mark.faults


# ----------------------------------------------------------------------------------- archives
def _file(tf: tarfile.TarFile, name: str, data: bytes = b"pwned") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def _special(tf: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    tf.addfile(info)


class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        k = min(len(buf), self.left)
        buf[:k] = bytes(k)
        self.left -= k
        return k


BOMB_BYTES = 64 * 1024**2


def _tar_bomb(tf: tarfile.TarFile, outside: Path) -> None:
    _file(tf, "woodcock_labeled_data/woodcock_labels.csv", b"filename,woodcock\n")
    info = tarfile.TarInfo("woodcock_labeled_data/zeros.wav")
    info.size = BOMB_BYTES
    tf.addfile(info, io.BufferedReader(_Zeros(BOMB_BYTES), buffer_size=1024**2))


def _zip_link(zf: zipfile.ZipFile, outside: Path) -> None:
    info = zipfile.ZipInfo("escape")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, str(outside))


def _zip_bomb(zf: zipfile.ZipFile, outside: Path) -> None:
    zf.writestr("zeros.wav", bytes(BOMB_BYTES), compress_type=zipfile.ZIP_DEFLATED)


# name: (format, build(archive, outside folder), fragment the error must name)
HOSTILE = {
    "absolute path": ("tar", lambda tf, out: _file(tf, str(out / "pwned.txt")), "absolute"),
    "'..' entry": ("tar", lambda tf, out: _file(tf, "../outside/pwned.txt"), "'..'"),
    "'..' after a good member": (
        "tar",
        lambda tf, out: (_file(tf, "data/ok.txt", b"ok"), _file(tf, "data/../../pwned.txt")),
        "'..'",
    ),
    "symlink pointing outside": (
        "tar",
        lambda tf, out: _special(tf, "escape", tarfile.SYMTYPE, str(out)),
        "symbolic link",
    ),
    "symlink, then a file written through it": (
        "tar",
        lambda tf, out: (
            _special(tf, "up", tarfile.SYMTYPE, "../outside"),
            _file(tf, "up/pwned.txt"),
        ),
        "symbolic link",
    ),
    "hard link to a file outside": (
        "tar",
        lambda tf, out: _special(tf, "hl", tarfile.LNKTYPE, str(out / "secret.txt")),
        "hard link",
    ),
    "hard link through '..'": (
        "tar",
        lambda tf, out: _special(tf, "hl", tarfile.LNKTYPE, "../outside/secret.txt"),
        "hard link",
    ),
    "character device": (
        "tar",
        lambda tf, out: _special(tf, "dev/null", tarfile.CHRTYPE),
        "device",
    ),
    "block device": ("tar", lambda tf, out: _special(tf, "sda", tarfile.BLKTYPE), "device"),
    "FIFO": ("tar", lambda tf, out: _special(tf, "pipe", tarfile.FIFOTYPE), "FIFO"),
    "gzip decompression bomb": ("tar:gz", _tar_bomb, "bomb"),
    "zip '..' entry": ("zip", lambda zf, out: zf.writestr("../outside/pwned.txt", "x"), "'..'"),
    "zip absolute path": ("zip", lambda zf, out: zf.writestr(str(out / "p.txt"), "x"), "absolute"),
    "zip symlink": ("zip", _zip_link, "symbolic link"),
    "zip decompression bomb": ("zip", _zip_bomb, "bomb"),
}


def _snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p == skip:
                continue
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _build(path: Path, fmt: str, build, outside: Path) -> Path:
    if fmt == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            build(zf, outside)
    else:
        kw = {"mode": "w:gz", "compresslevel": 1} if fmt == "tar:gz" else {"mode": "w"}
        with tarfile.open(path, **kw) as tf:
            build(tf, outside)
    return path


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_is_refused_and_writes_nothing(tmp_path, fault, case):
    fmt, build, why = HOSTILE[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep me")
    suffix = {"zip": ".zip", "tar:gz": ".tar.gz"}.get(fmt, ".tar")
    archive = _build(tmp_path / f"hostile{suffix}", fmt, build, outside)
    dest = tmp_path / "dest"
    before = _snapshot(tmp_path, dest)
    with fault.error(f"archive: {case}", ArchiveError, archive, why):
        safe_extract(archive, dest)
    with fault.case(f"archive: {case} wrote nothing anywhere"):
        assert _snapshot(tmp_path, dest) == before
        assert list(dest.iterdir()) == []
        assert (outside / "secret.txt").read_text() == "keep me"


def test_hostile_download_is_refused_and_cleaned_up(tmp_path, fault):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = _build(tmp_path / "served.tar", "tar", HOSTILE["'..' entry"][1], outside)
    dest = tmp_path / "dest"
    with fault.error("download of an archive with '..'", ArchiveError, "'..'"):
        download_woodcock(dest, archive.as_uri())
    with fault.case("the refused download leaves no file behind"):
        assert list(dest.iterdir()) == [] and list(outside.iterdir()) == []


# ------------------------------------------------------------------------------ model bundles
def _leave_marker(path: str) -> dict:
    """What the hostile pickle calls when it is unpickled without protection."""
    Path(path).write_text("code from a model file ran")
    return {}


class _CarriesCode:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (_leave_marker, (self.marker,))


def _hostile_bundle(path: Path, marker: Path) -> Path:
    payload = {
        "format": BUNDLE_FORMAT,
        "format_version": 1,
        "meta_json": json.dumps({"arch": "resnet18"}),
        "state_dict": {},
        "extra": _CarriesCode(marker),
    }
    torch.save(payload, path)
    return path


def test_the_hostile_pickle_really_carries_code(tmp_path, fault):
    marker = tmp_path / "control_marker"
    pt = _hostile_bundle(tmp_path / "control.pt", marker)
    with fault.case("control: unpickling the hostile bundle unprotected runs its code"):
        with zipfile.ZipFile(pt) as zf:
            [inner] = [n for n in zf.namelist() if n.endswith("data.pkl")]
            pickle.loads(zf.read(inner))  # noqa: S301 - proving the file is live
        assert marker.read_text() == "code from a model file ran"


def test_bundle_carrying_code_is_refused(tmp_path, fault, capsys):
    marker = tmp_path / "marker"
    pt = _hostile_bundle(tmp_path / "model.pt", marker)
    with fault.error("ModelBundle.load of a pickle carrying code", BundleError, pt, "refusing"):
        ModelBundle.load(pt)
    with fault.error("read_bundle_payload of it", BundleError, pt, "refusing"):
        read_bundle_payload(pt)
    wav = tmp_path / "clip.wav"
    wav.write_bytes(b"")
    out = tmp_path / "scores.csv"
    with fault.case("predict on the command line with it"):
        assert main(["predict", "--model", str(pt), str(wav), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "refusing" in err[0] and str(pt) in err[0]
        assert not out.exists()
    with fault.case("its code never ran"):
        assert not marker.exists()


@pytest.mark.slow
def test_resume_from_a_last_pt_carrying_code_is_refused(tmp_path, fault, reference_run):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("config.json", "train.csv", "valid.csv"):
        shutil.copy(reference_run / name, run_dir / name)
    marker = tmp_path / "marker"
    _hostile_bundle(run_dir / "last.pt", marker)
    with fault.error("resume from a hostile last.pt", TrainingError, run_dir / "last.pt"):
        resume_trainer(run_dir)
    with fault.case("resume never ran the code"):
        assert not marker.exists()


# ---------------------------------------------------------------------------- shell commands
_SUBPROCESS = {"run", "Popen", "call", "check_call", "check_output"}
_SHELL_CALLS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("asyncio", "create_subprocess_shell"),
}


def _dotted(node: ast.AST) -> tuple[str, ...]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return tuple(reversed(parts))


def _stringy(node: ast.AST) -> bool:
    """A command given as one string (literal, f-string, concatenation, % or .format)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _stringy(node.left) or _stringy(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("format", "join") and (
            node.func.attr == "join" or _stringy(node.func.value)
        )
    return False


def shell_violations(source: str, where: str) -> list[str]:
    """Places in Python ``source`` that run a shell command built from a string."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        line = f"{where}:{node.lineno}"
        for kw in node.keywords:
            if kw.arg == "shell" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is False
            ):
                found.append(f"{line}: shell={ast.unparse(kw.value)}")
        if name[-2:] in _SHELL_CALLS or (len(name) == 1 and name[0] in ("system", "popen")):
            found.append(f"{line}: {'.'.join(name)}()")
        if name and name[-1] in _SUBPROCESS and name[0] in ("subprocess", *_SUBPROCESS):
            first = node.args[0] if node.args else None
            first = first or next((k.value for k in node.keywords if k.arg == "args"), None)
            if first is not None and _stringy(first):
                found.append(f"{line}: {'.'.join(name)}() with a string command")
    return found


def _sources():
    for folder in ("woodcock_widgets", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path.relative_to(ROOT), path.read_text(encoding="utf-8")
    for nb in sorted((ROOT / "woodcock_widgets" / "tutorial" / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                yield f"{nb.relative_to(ROOT)} cell {i}", "".join(cell["source"])


def test_the_shell_check_catches_what_it_should(fault):
    bad = (
        "import os, subprocess\n"
        "os.system('rm -rf ' + path)\n"
        "os.popen(f'ls {d}')\n"
        "subprocess.run('tar xzf ' + archive, shell=True)\n"
        "subprocess.check_output(f'curl {url}')\n"
        "subprocess.Popen(args='ls -l')\n"
        "subprocess.call(' '.join(cmd))\n"
        "subprocess.run(['ls', d], shell=flag)\n"
    )
    good = "import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'pip'], check=True)\n"
    with fault.case("the shell-command check finds each planted violation"):
        assert len(shell_violations(bad, "planted")) == 8, shell_violations(bad, "planted")
        assert shell_violations(good, "fine") == []


def test_no_shell_commands_built_from_strings_anywhere(fault):
    found, scanned = [], 0
    for where, source in _sources():
        scanned += 1
        if isinstance(where, str):  # a notebook cell: IPython shell escapes count too
            magic = [
                ln
                for ln in source.splitlines()
                if ln.lstrip().startswith(("!", "%%bash", "%%sh", "%system", "%sx", "%%script"))
            ]
            found += [f"{where}: {ln.strip()}" for ln in magic]
            # other magics (``%pip install``) become the calls IPython makes of them
            from IPython.core.inputtransformer2 import TransformerManager

            source = TransformerManager().transform_cell(source)
        found += shell_violations(source, str(where))
    with fault.case(f"no shell commands built from strings in {scanned} source files and cells"):
        assert scanned > 20
        assert found == [], "\n".join(found)


def test_every_torch_load_in_the_package_is_weights_only(fault):
    loads = []
    for path in sorted((ROOT / "woodcock_widgets").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for bad in ("shell=True", "os.system(", "os.popen("):
            assert bad not in text, f"{path}: {bad}"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and _dotted(node.func)[-2:] == ("torch", "load"):
                safe = any(
                    k.arg == "weights_only"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is True
                    for k in node.keywords
                )
                loads.append((f"{path.relative_to(ROOT)}:{node.lineno}", safe))
    with fault.case(f"all {len(loads)} torch.load calls in the package use weights_only=True"):
        assert loads, "no torch.load found: the check looks in the wrong place"
        assert [where for where, safe in loads if not safe] == []
