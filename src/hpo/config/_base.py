"""What every section of the sweep schema shares: strict frozen models, references to user code."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_reference(value: str) -> bool:
    """Whether ``value`` is an explicit ``package.module:function`` reference to user code."""
    return bool(_REFERENCE.match(value))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
