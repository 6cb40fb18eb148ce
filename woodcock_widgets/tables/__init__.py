"""Tables layer: label tables, remapping, splits, browsing and annotation formats.

Pure pandas and numpy over the audio layer; no module here imports torch (a test checks it).
"""
