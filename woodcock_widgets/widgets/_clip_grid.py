"""ClipGrid: a page of clips, each a spectrogram thumbnail, a caption, a player, an open button."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets

from ..tables.browse import n_pages, page_rows
from ._plots import BLANK_PNG

__all__ = ["ClipGrid"]


class ClipGrid(widgets.VBox):
    """A page of clips with page buttons (hidden until shown: ``layout.display``).

    Parameters
    ----------
    shape : tuple of int
        ``(rows, columns)`` of a page.
    content : callable
        ``content(row)`` → ``(png, wav, caption_html)`` of one clip.
    on_open : callable
        Called with the row of a cell whose "open" button is clicked.
    guard : callable
        Wraps the button callbacks (the owner's ``ErrorLog.guard``).

    Attributes
    ----------
    rows : list
        The rows paged through (set by :meth:`show_page`).
    page : int
        The page shown (0-based).
    """

    def __init__(
        self,
        shape: tuple[int, int],
        content: Callable,
        on_open: Callable,
        guard: Callable[[Callable], Callable],
    ) -> None:
        self.grid_shape = (int(shape[0]), int(shape[1]))
        self.rows: list = []
        self.page = 0
        self._content = content
        self._on_open = on_open
        self.page_previous_button = widgets.Button(description="◀ page")
        self.page_next_button = widgets.Button(description="page ▶")
        self.page_html = widgets.HTML()
        self.page_previous_button.on_click(guard(lambda _: self.show_page(self.page - 1)))
        self.page_next_button.on_click(guard(lambda _: self.show_page(self.page + 1)))
        self._cells = [self._make_cell(k, guard) for k in range(self.per_page)]
        self.grid = widgets.GridBox(
            [c["box"] for c in self._cells],
            layout=widgets.Layout(
                grid_template_columns=f"repeat({self.grid_shape[1]}, 1fr)", grid_gap="6px"
            ),
        )
        super().__init__(
            [
                widgets.HBox([self.page_previous_button, self.page_html, self.page_next_button]),
                self.grid,
            ],
            layout=widgets.Layout(display="none"),
        )

    def _make_cell(self, k: int, guard: Callable) -> dict:
        image = widgets.Image(
            value=BLANK_PNG, format="png", layout=widgets.Layout(width="100%", height="120px")
        )
        caption = widgets.HTML()
        audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        open_button = widgets.Button(
            description="open", layout=widgets.Layout(width="auto", flex="0 0 auto")
        )
        open_button.on_click(guard(lambda _: self._open(k)))
        box = widgets.VBox(
            [image, widgets.HBox([open_button, caption]), audio],
            layout=widgets.Layout(border="1px solid #ddd", padding="2px"),
        )
        return {"box": box, "image": image, "caption": caption, "audio": audio, "row": None}

    @property
    def per_page(self) -> int:
        """Clips on a page."""
        return self.grid_shape[0] * self.grid_shape[1]

    @property
    def n_pages(self) -> int:
        """Pages for the current rows."""
        return n_pages(len(self.rows), self.per_page)

    @property
    def cells(self) -> list[dict]:
        """Cells: dicts with ``row``, ``image``, ``audio``, ``caption`` and ``box``."""
        return [{k: c[k] for k in ("row", "image", "audio", "caption", "box")} for c in self._cells]

    def show_page(self, page: int, rows: Sequence | None = None) -> None:
        """Fill the cells with page ``page`` (0-based, clamped) of ``rows`` (default: as before)."""
        if rows is not None:
            self.rows = list(rows)
        self.page = min(max(int(page), 0), self.n_pages - 1)
        shown = page_rows(self.rows, self.page, self.per_page)
        for k, cell in enumerate(self._cells):
            self._fill(cell, shown[k] if k < len(shown) else None)
        self.page_html.value = f"page {self.page + 1} of {self.n_pages}"
        self.page_previous_button.disabled = self.page <= 0
        self.page_next_button.disabled = self.page >= self.n_pages - 1

    def _fill(self, cell: dict, row) -> None:
        cell["row"] = row
        # an empty cell takes no room, so a short page leaves no blank rows
        cell["box"].layout.display = "none" if row is None else None
        if row is None:
            cell["image"].value, cell["audio"].value, cell["caption"].value = BLANK_PNG, b"", ""
            return
        cell["image"].value, cell["audio"].value, cell["caption"].value = self._content(row)

    def _open(self, k: int) -> None:
        row = self._cells[k]["row"]
        if row is not None:
            self._on_open(row)
