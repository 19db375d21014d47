"""Synthetic fraction per group, corrected for detector error, with confidence intervals."""
