"""Search spaces: parameter kinds, conditions, per-layer parameters, YAML blocks and Optuna sampling."""

from hpo.space._load import load_space_block, parse_space, space_from_document
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
    "load_space_block",
    "parse_space",
    "space_from_document",
]
