"""Bad label tables: each is refused naming the file, row or column; harmless quirks work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from woodcock_widgets.errors import LabelError, SplitError
from woodcock_widgets.tables.labels import read_labels
from woodcock_widgets.tables.splits import split_train_valid
from woodcock_widgets.workflow.pipeline import CODE_COLUMN, new_trainer, prepare_labels

from ._helpers import LABEL_MAP, micro_config

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A folder of 6 tiny WAVs: a.wav … f.wav."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for name in "abcdef":
        sf.write(str(folder / f"{name}.wav"), rng.uniform(-0.1, 0.1, 4000), 8000)
    return folder


def _csv(folder: Path, text: str, name: str = "labels.csv", encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


GOOD = "filename,woodcock,sound_type\na.wav,present,song\nb.wav,absent,na\nc.wav,absent,call\n"


def test_unreadable_tables(clips, fault, tmp_path):
    missing = tmp_path / "no_such_labels.csv"
    with fault.error("missing label file", LabelError, missing, "not found"):
        read_labels(missing)

    empty = _csv(tmp_path, "", "empty.csv")
    with fault.error("empty label file", LabelError, empty, "empty"):
        read_labels(empty)

    header = _csv(clips, "filename,woodcock,sound_type\n", "header_only.csv")
    with fault.error("header but no rows", LabelError, header, "no rows"):
        read_labels(header)

    semi = _csv(clips, GOOD.replace(",", ";"), "semicolons.csv")
    with fault.error("';' as delimiter", LabelError, semi, "filename", "delimiter"):
        read_labels(semi)

    binary = clips / "a.wav"
    with fault.error("a WAV given as the label table", LabelError, binary):
        read_labels(binary)

    with fault.error("a folder given as the label table", LabelError, clips, "folder"):
        read_labels(clips)


def test_bad_columns_and_rows(clips, fault):
    no_col = _csv(clips, "filename,woodcock\na.wav,present\nb.wav,absent\n", "no_col.csv")
    with fault.error("missing required column", LabelError, no_col, "sound_type"):
        prepare_labels(no_col, "sound_type", LABEL_MAP)

    no_files = _csv(clips, "file,sound_type\na.wav,song\n", "no_filename.csv")
    with fault.error("missing filename column", LabelError, no_files, "filename"):
        read_labels(no_files)

    dup = _csv(clips, GOOD + "./a.wav,present,song\n", "dup.csv")
    with fault.error("duplicate file names", LabelError, dup, "row(s) 0, 3", "a.wav"):
        read_labels(dup)

    nowhere = _csv(clips, GOOD + "lost/z.wav,absent,na\n", "nowhere.csv")
    with fault.error("file name pointing nowhere", LabelError, nowhere, "row(s) 3", "z.wav"):
        read_labels(nowhere)

    blank_name = _csv(clips, GOOD + ",absent,na\n", "blank_name.csv")
    with fault.error("empty file name", LabelError, "'filename'", "row(s) 3"):
        read_labels(blank_name)

    nan_label = _csv(clips, GOOD + "d.wav,absent,\n", "nan_label.csv")
    with fault.error("empty label", LabelError, "'sound_type'", "row(s) 3"):
        prepare_labels(nan_label, "sound_type", LABEL_MAP)

    blank_label = _csv(clips, GOOD + "d.wav,absent,   \n", "blank_label.csv")
    with fault.error("blank label", LabelError, "'sound_type'", "row(s) 3"):
        prepare_labels(blank_label, "sound_type", LABEL_MAP)

    unmapped = _csv(clips, GOOD + "d.wav,present,drum\n", "unmapped.csv")
    with fault.error("value not in the mapping", LabelError, "'sound_type'", "drum", "row(s) 3"):
        prepare_labels(unmapped, "sound_type", LABEL_MAP)


def test_harmless_quirks_work(clips, fault, tmp_path):
    expected = pd.DataFrame(
        {
            "filename": [str((clips / f"{n}.wav").resolve()) for n in "abc"],
            "woodcock": ["present", "absent", "absent"],
            "sound_type": ["song", "na", "call"],
        }
    )
    with fault.case("Windows line endings and a UTF-8 BOM"):
        path = _csv(clips, "\ufeff" + GOOD.replace("\n", "\r\n"), "windows.csv")
        df = read_labels(path)
        pd.testing.assert_frame_equal(df, expected)
        table = prepare_labels(path, "sound_type", LABEL_MAP)
        assert table.label_dict == {0: "absent", 1: "present"}
        assert table.df[CODE_COLUMN].tolist() == [1, 0, 0]

    with fault.case("extra columns are kept"):
        text = "site,filename,woodcock,sound_type,observer\n"
        text += "".join(f"S{i},{n}.wav,absent,na,ana\n" for i, n in enumerate("abc"))
        df = read_labels(_csv(clips, text, "extra.csv"))
        assert list(df.columns) == ["site", "filename", "woodcock", "sound_type", "observer"]
        assert df["observer"].tolist() == ["ana"] * 3

    with fault.case("absolute and relative paths in one table"):
        sub = tmp_path / "tables" / "deep"
        sub.mkdir(parents=True)
        rel = Path("..") / ".." / ".." / clips.name / "b.wav"
        assert (sub / rel).resolve() == (clips / "b.wav").resolve()
        text = f"filename,woodcock\n{(clips / 'a.wav').resolve()},present\n{rel},absent\n"
        df = read_labels(_csv(sub, text, "mixed.csv"), root=sub)
        # the clips fixture lives in another temp folder: relative to its real parent
        assert df["filename"].tolist() == [
            str((clips / "a.wav").resolve()),
            str((sub / rel).resolve()),
        ]


@pytest.fixture
def coded(clips):
    def table(classes: list[str]):
        names = [f"{n}.wav" for n in "abcdef"][: len(classes)]
        df = pd.DataFrame({"filename": [str(clips / n) for n in names], "species": classes})
        return prepare_labels(df, "species")

    return table


def test_splits_that_cannot_be_made(coded, fault, tmp_path, micro_pre):
    one_class = coded(["robin"] * 6)
    with fault.error("one class only", SplitError, "'NumericLabels'", "only one class"):
        split_train_valid(one_class.df, CODE_COLUMN)
    with fault.error("one class only, through new_trainer", SplitError, "only one class"):
        new_trainer(one_class, tmp_path / "r1", micro_config(), pretrained=False)
    assert not (tmp_path / "r1").exists()  # refused before anything was written

    lonely = coded(["robin", "robin", "robin", "robin", "robin", "woodcock"])
    with fault.error("a class with one clip", SplitError, "fewer than 2 clips", "['1']"):
        split_train_valid(lonely.df, CODE_COLUMN)
    with fault.error("a class with one clip, through new_trainer", SplitError, "fewer than"):
        new_trainer(lonely, tmp_path / "r2", micro_config(), pretrained=False)
    assert not (tmp_path / "r2").exists()
