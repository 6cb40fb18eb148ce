"""LabelingGrid without a browser: click a label, press refit, see the panel change."""

from __future__ import annotations

import pytest
import traitlets
from _widget_helpers import png_size, record_comms, wav
from test_labeling_loop import ToyEmbedder, make_folder  # the loop tests' toy data

from woodcock_widgets.ml.embedding_cache import EmbeddingCache
from woodcock_widgets.widgets import LabelingGrid
from woodcock_widgets.workflow.label_store import LabelStore
from woodcock_widgets.workflow.labeling_loop import LabelingLoop


@pytest.fixture()
def loop(tmp_path):
    truth = make_folder(tmp_path / "audio")
    start = truth[truth["tone"] == 1].head(3)[["file", "start_time", "end_time", "tone"]]
    with LabelingLoop(
        tmp_path / "audio", 1.0, ToyEmbedder(), tmp_path / "labels.csv", tmp_path / "run",
        ["tone"], start=start, cache=EmbeddingCache(tmp_path / "cache"), progress=False,
    ) as lp:  # fmt: skip
        lp.truth = truth
        yield lp


def test_the_first_page_shows_spectrograms_audio_and_buttons(loop):
    grid = LabelingGrid(loop, page_size=6)
    assert grid.page == 1 and grid.round == 0 and grid.strategy == "top"
    assert len(grid.grid_box.children) == 6 and grid.errors.messages == []
    card = grid.cards[0]
    width, height = png_size(card.image.value)
    assert height == 257 and width > 10  # one 1 s window at 16 kHz
    samples, rate = wav(card.audio.value)
    assert rate == 16000 and len(samples) == 16000
    assert "rec_" in card.caption.value and "score" in card.caption.value
    assert [b.description for b in (card.present_button, card.absent_button, card.skip_button)] == [
        "present",
        "absent",
        "skip",
    ]
    assert card.class_toggles == [] and grid.class_select.layout.display == "none"


def test_clicking_a_label_button_records_the_answer(loop, tmp_path):
    grid = LabelingGrid(loop, page_size=4, strategy="uncertain")
    before = len(loop.store)
    grid.cards[1].present_button.click()
    grid.cards[2].skip_button.click()
    assert grid.errors.messages == []
    log = LabelStore(tmp_path / "labels.csv", lock=False).log()  # on disk already
    assert len(log) == before + 2
    last = log.iloc[-2]
    row = grid.cards[1].row
    assert (last.file, last.start_time, last.present, last.strategy) == (
        row["file"],
        row["start_time"],
        "tone",
        "uncertain",
    )
    assert log.iloc[-1].status == "skip"
    assert "answered: present" in grid.cards[1].status.value
    assert "2 of 4 answered" in grid.status_html.value
    grid.all_absent_button.click()
    log = LabelStore(tmp_path / "labels.csv", lock=False).log()
    assert len(log) == before + 4 and list(log["present"].tail(2)) == ["", ""]
    assert all(c.answer for c in grid.cards[:4])


def test_refit_adds_a_row_to_the_panel_and_a_point_to_the_chart(loop):
    grid = LabelingGrid(loop, page_size=8)
    assert "<td>" not in grid.panel_table.value
    for card in grid.cards[:8]:
        truth = loop.truth.loc[card.row["window"], "tone"]
        (card.present_button if truth else card.absent_button).click()
    grid.refit_button.click()
    assert grid.errors.messages == []
    assert grid.round == 1 == loop.round and grid.page == 2
    assert grid.panel_table.value.count("<tr") == 2  # header + round 0
    assert list(grid.chart_lines["page precision"].x) == [0.0]
    assert 0 <= grid.chart_lines["page precision"].y[0] <= 1
    grid.mark_rest_absent()
    grid.refit()
    assert grid.panel_table.value.count("<tr") == 3
    assert list(grid.chart_lines["validation AP"].x) == [0.0, 1.0]


def test_state_lives_in_traitlets_and_errors_show_in_the_widget(loop, monkeypatch):
    record_comms(monkeypatch)
    grid = LabelingGrid(loop, page_size=3)
    grid.strategy_select.value = "stratified"
    assert grid.strategy == "stratified"
    grid.next_page_button.click()
    assert grid.page == 2 and set(loop.page["strategy"]) == {"stratified"}
    with pytest.raises(traitlets.TraitError):
        grid.strategy = "best"
    monkeypatch.setattr(loop, "refit", lambda: (_ for _ in ()).throw(ValueError("no labels")))
    grid.refit_button.click()
    assert grid.errors.messages == ["ValueError: no labels"]


def test_several_classes_get_a_class_chooser(tmp_path):
    make_folder(tmp_path / "audio")
    with LabelingLoop(
        tmp_path / "audio", 1.0, ToyEmbedder(), tmp_path / "labels.csv", tmp_path / "run",
        ["tone", "hum"], cache=EmbeddingCache(tmp_path / "cache"), progress=False,
    ) as lp:  # fmt: skip
        grid = LabelingGrid(lp, page_size=3)
        assert grid.class_select.layout.display is None
        card = grid.cards[0]
        assert [t.description for t in card.class_toggles] == ["tone", "hum"]
        card.class_toggles[1].value = True
        card.save_button.click()
        log = lp.store.log()
        assert (log.iloc[-1].classes, log.iloc[-1].present) == ("tone;hum", "hum")
        grid.mark_rest_absent()
        assert list(lp.store.log()["present"].tail(2)) == ["", ""]


def _key(card, key: str) -> None:
    """A key press over a card, as ipyevents' front end sends it to the kernel."""
    card.keys._handle_mouse_msg(None, {"type": "keydown", "key": key, "event": "keydown"}, [])


def test_keys_over_a_card_answer_it(loop, tmp_path):
    grid = LabelingGrid(loop, page_size=5)
    card = grid.cards[0]
    assert card.keys.source is card.box and card.keys.watched_events == ["keydown"]
    before = len(loop.store)
    _key(grid.cards[0], "1")
    _key(grid.cards[1], "A")  # either case
    _key(grid.cards[2], "s")
    _key(grid.cards[3], "x")  # means nothing
    _key(grid.cards[0], "2")  # already answered: ignored, no second answer
    assert grid.errors.messages == []
    assert [c.answer for c in grid.cards[:4]] == ["present", "absent", "skip", None]
    log = LabelStore(tmp_path / "labels.csv", lock=False).log()
    assert len(log) == before + 3
    assert list(log["present"].tail(3)) == ["tone", "", ""]
    assert list(log["status"].tail(3)) == ["labeled", "labeled", "skip"]
    assert log.iloc[-3].start_time == grid.cards[0].row["start_time"]


def test_keys_toggle_classes_and_save_with_several_classes(tmp_path):
    make_folder(tmp_path / "audio")
    with LabelingLoop(
        tmp_path / "audio", 1.0, ToyEmbedder(), tmp_path / "labels.csv", tmp_path / "run",
        ["tone", "hum"], cache=EmbeddingCache(tmp_path / "cache"), progress=False,
    ) as lp:  # fmt: skip
        grid = LabelingGrid(lp, page_size=2)
        card = grid.cards[0]
        _key(card, "2")
        assert [t.value for t in card.class_toggles] == [False, True] and card.answer is None
        _key(card, "9")  # no 9th class
        _key(card, "Enter")
        assert card.answer == "hum" and grid.errors.messages == []
        _key(grid.cards[1], "s")
        log = lp.store.log()
        assert (log.iloc[-2].classes, log.iloc[-2].present) == ("tone;hum", "hum")
        assert log.iloc[-1].status == "skip"
