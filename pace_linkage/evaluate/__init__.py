"""Evaluate: how good is a linkage, with or without truth (pairwise and B-cubed metrics, label-free
estimates, groups linked less, threshold tuning, clerical review)."""
