"""Save a large label table over and over; the fault suite kills this process mid-write.

Usage: ``python _label_writer.py TARGET ROWS WRITER_ID``
"""

from __future__ import annotations

import sys

import pandas as pd

from woodcock_widgets.tables.labels import save_labels


def main() -> None:
    target, rows, writer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    names = [f"clip_{i:06d}.wav" for i in range(rows)]
    base = pd.DataFrame({"filename": names, "sound_type": "song", "woodcock": "present"})
    version = 0
    while True:
        version += 1
        save_labels(base.assign(version=version, writer=writer), target)
        print(f"saved version {version}", flush=True)


if __name__ == "__main__":
    main()
