"""Search spaces: parameter kinds, conditions, per-layer parameters and Optuna sampling."""

from hpo.space._params import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
)
from hpo.space._space import SearchSpace

__all__ = [
    "CategoricalParam",
    "Condition",
    "FixedParam",
    "FloatParam",
    "IntParam",
    "Param",
    "SearchSpace",
]
