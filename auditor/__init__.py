"""Provenance Auditor: how much of a pre-training corpus is machine-generated, where it came
from, and what that does to the next model trained on it.

Kept import-light on purpose: heavy libraries (torch, transformers, ray, datasets) are imported
only inside the modules that need them.
"""

__version__ = "0.1.0"
