"""Resolve explicit ``package.module:function`` references from a sweep file.

This is the only way a sweep file runs user code: a reference names a function that hpo imports
and calls (a model builder or a data loader). Only use sweep files you trust.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from hpo._errors import HpoError


def resolve_reference(reference: str, what: str) -> Callable[..., Any]:
    """The function named by ``reference``; HpoError naming the reference when it cannot be found."""
    module_name, _, attr = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HpoError(
            f"{what} {reference!r}: cannot import module {module_name!r} ({exc}); "
            "make sure it is installed or on PYTHONPATH"
        ) from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise HpoError(f"{what} {reference!r}: module {module_name!r} has no function {attr!r}")
    return function
