"""Where the real labeled recordings are (``../shared/real_labeled``, see its README)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_LABELED = Path(
    os.environ.get("WOODCOCK_REAL_LABELED", ROOT.parent / "shared" / "real_labeled")
)


def require_real_labeled() -> Path:
    """The folder of real labeled data; skip where absent, but fail on CI (env ``CI=true``)."""
    if not REAL_LABELED.is_dir():
        reason = f"real labeled data not found at {REAL_LABELED} (set WOODCOCK_REAL_LABELED)"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}; CI must run the real-data tests", pytrace=False)
        pytest.skip(reason)
    return REAL_LABELED
