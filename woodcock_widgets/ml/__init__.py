"""Machine-learning layer: runtime policy, datasets, models, training, bundles, prediction.

Imports the audio and tables layers; never a widget library.
"""
