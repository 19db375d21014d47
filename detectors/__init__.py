"""AI-text detectors, one module a family. Importing this package registers them all by name:
each detector class carries its `@detector(...)` registration (see `detectors.base`). The
modules are light to import: models load on first use, and torch/transformers are imported
only inside the functions that need them."""

# Importing a module runs its classes' @detector decorators (registration order is irrelevant:
# `specs()` sorts by tier and name).
from detectors import adapted as _adapted  # noqa: E402, F401
from detectors import classifier as _classifier  # noqa: E402, F401
from detectors import compression as _compression  # noqa: E402, F401
from detectors import contamination as _contamination  # noqa: E402, F401
from detectors import embedding as _embedding  # noqa: E402, F401
from detectors import excess_vocab as _excess_vocab  # noqa: E402, F401
from detectors import lm_zero_shot as _lm_zero_shot  # noqa: E402, F401
from detectors import markers as _markers  # noqa: E402, F401
from detectors import watermark as _watermark  # noqa: E402, F401
from detectors.base import (
    Detector,
    DetectorSpec,
    NotConfigured,
    detector,
    load,
    parse_names,
    register,
    specs,
)

__all__ = ["Detector", "DetectorSpec", "NotConfigured", "detector", "load", "parse_names",
           "register", "specs"]
