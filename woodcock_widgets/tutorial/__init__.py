"""Tutorial layer: the notebook chain (package data), its parameters and its runner."""
