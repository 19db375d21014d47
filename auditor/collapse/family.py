"""Build a model family by name from the parameters a user gives (`--samples`, `--dim`, ...)."""

from __future__ import annotations

from typing import Any

from auditor.collapse.regimes import Family

MODELS: tuple[str, ...] = ("gaussian", "linear", "categorical", "corpus")


def make_family(model: str, **params: Any) -> Family:
    """A family instance; unknown parameters are an error so that a typo is not silently ignored.

    `samples=None` (and other None values) mean "the family's default"."""
    params = {k: v for k, v in params.items() if v is not None}
    if model == "gaussian":
        from auditor.collapse.gaussian import GaussianFamily as cls
    elif model == "linear":
        from auditor.collapse.linear import LinearFamily as cls
    elif model == "categorical":
        from auditor.collapse.categorical import CategoricalFamily as cls
    elif model == "corpus":
        from auditor.collapse.ngram import CorpusLM as cls
        if "texts" not in params:
            raise ValueError("the corpus model needs texts=[...] (human documents to fit on)")
    else:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"model {model!r}: {exc}") from exc
