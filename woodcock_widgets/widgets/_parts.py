"""Helpers for widgets composed of sub-views: a sub-view's control, reachable by its role."""

from __future__ import annotations

__all__ = ["Part", "Syncing"]


class Part:
    """A read-only attribute: the sub-view ``part``'s attribute of the same name (or ``attr``).

    A widget made of sub-views keeps its child controls reachable by role
    (``inspector.clip_slider``) while the sub-view that wires the control owns it::

        class Inspector(widgets.VBox):
            clip_slider = Part("navigator")  # self.navigator.clip_slider
            previous_button, next_button = Part.of("navigator", 2)
            save_path_text = Part("save_bar", "path_text")  # another name
    """

    def __init__(self, part: str, attr: str | None = None) -> None:
        self.part = part
        self.attr = attr
        self.name = ""

    @classmethod
    def of(cls, part: str, n: int) -> tuple[Part, ...]:
        """``n`` attributes of one sub-view (unpack them into as many names)."""
        return tuple(cls(part) for _ in range(n))

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.attr = self.attr or name
        self.__doc__ = f"``self.{self.part}.{self.attr}`` (read-only)."

    def __get__(self, obj, owner: type | None = None):
        if obj is None:
            return self
        return getattr(getattr(obj, self.part), self.attr)

    def __set__(self, obj, value) -> None:
        raise AttributeError(f"{self.name} belongs to the sub-view {self.part}; set it there")


class Syncing:
    """A flag a sub-view raises while it sets its own controls, so their observers skip.

    ``with self.syncing: slider.value = 3`` sets the slider; an observer that starts with
    ``if self.syncing: return`` ignores that change (a user's change still gets through).
    """

    def __init__(self) -> None:
        self._depth = 0

    def __bool__(self) -> bool:
        return self._depth > 0

    def __enter__(self) -> Syncing:
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
