"""Evaluation: datasets and their loaders, metrics, reports, calibration (no torch)."""
