"""Evaluation: datasets and their loaders, metrics, reports, calibration (no torch)."""

# FER2013's sets of rows (its CSV's Usage column); the one evaluate and calibrate read unless told otherwise, and
# `fervid train` chooses its epoch on: its public test set. Here, not in datasets (which loads pandas), for the
# command line's --help
FER2013_USAGES = ("Training", "PublicTest", "PrivateTest")
DEFAULT_USAGE = "PublicTest"
