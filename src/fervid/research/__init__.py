"""The published paper's experiments and baselines (torch): apart from what fervid ships."""
