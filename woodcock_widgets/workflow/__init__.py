"""Workflow layer: the run folder and the steps that go from a label table to a trained run."""
