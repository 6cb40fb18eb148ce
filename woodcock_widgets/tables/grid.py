"""The window grid over a recording: where prediction windows start and end."""

from __future__ import annotations

__all__ = ["clip_windows"]


def clip_windows(
    duration: float, clip_seconds: float, overlap: float = 0.0
) -> list[tuple[float, float]]:
    """Start/end times of windows of ``clip_seconds`` covering ``duration``.

    The last window starts where the previous one leaves uncovered audio; it is padded
    with silence when the recording ends first. A recording shorter than one window gives
    one (padded) window.
    """
    if not 0 <= overlap < clip_seconds:
        raise ValueError(f"overlap must be in [0, {clip_seconds}) seconds, got {overlap}")
    hop = clip_seconds - overlap
    starts = [0.0]
    while starts[-1] + clip_seconds < duration - 1e-9:
        starts.append(starts[-1] + hop)
    return [(round(s, 6), round(s + clip_seconds, 6)) for s in starts]
