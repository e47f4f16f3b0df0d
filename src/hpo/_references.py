"""Resolve explicit ``package.module:function`` references from a sweep file.

This is the only way a sweep file runs user code: a reference names a function that hpo imports
and calls (a model builder, a data loader, an objective function). References resolve the same
way everywhere: against the installed packages, then the folder ``hpo`` runs from (as ``python -m``
would), in ``hpo validate``, in the driver and, shipped by Ray, in every worker. Only use sweep
files you trust.
"""

from __future__ import annotations

import importlib
import os
import site
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpo._errors import HpoError


def _import(module_name: str) -> Any:
    here = os.getcwd()
    if here not in sys.path:
        sys.path.append(here)  # after the installed packages: a local file never shadows one
    return importlib.import_module(module_name)


def resolve_reference(reference: str, what: str) -> Callable[..., Any]:
    """The function named by ``reference``; HpoError naming the reference when it cannot be found."""
    module_name, _, attr = reference.partition(":")
    try:
        module = _import(module_name)
    except ImportError as exc:
        raise HpoError(
            f"{what} {reference!r}: cannot import module {module_name!r} ({exc}); it must be installed, or a "
            f"module or package in the folder hpo runs from ({os.getcwd()})"
        ) from exc
    except Exception as exc:  # the user's module raised while importing
        raise HpoError(f"{what} {reference!r}: importing {module_name!r} raised {type(exc).__name__}: {exc}") from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise HpoError(f"{what} {reference!r}: module {module_name!r} has no function {attr!r}")
    return function


def _installed(path: Path) -> bool:
    installed = [Path(p).resolve() for p in (*site.getsitepackages(), site.getusersitepackages())]
    return any(path.is_relative_to(root) for root in installed)


def local_module_path(reference: str) -> Path | None:
    """The file or package folder holding a reference's top-level module when it is the user's
    own code (Ray ships it to every worker); None for an installed package, which every node has."""
    top = reference.partition(":")[0].split(".")[0]
    module = sys.modules.get(top) or _import(top)
    origin = getattr(module, "__file__", None)
    if origin is None:
        return None
    path = Path(origin).resolve()
    path = path.parent if path.name == "__init__.py" else path
    return None if _installed(path) else path
