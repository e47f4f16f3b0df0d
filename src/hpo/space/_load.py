"""Search spaces from YAML: ``include`` blocks merged in order, then inline ``params`` over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpo._errors import ConfigError, Problem
from hpo._text import did_you_mean
from hpo._yaml import KeyPath, YamlDocument, read_yaml
from hpo.space._parse import ParamParser
from hpo.space._space import Origin, SearchSpace


def parse_space(params: dict[str, Any], file: str = "<params>") -> SearchSpace:
    """A space from a ``params`` mapping in memory (the inverse of ``SearchSpace.to_dict``)."""
    return space_from_document(YamlDocument(file, {"params": params}), ())


def load_space_block(path: str | Path) -> SearchSpace:
    """Read one search-space block file on its own (its includes resolved)."""
    return space_from_document(read_yaml(Path(path)), ())


def space_from_document(doc: YamlDocument, at: KeyPath) -> SearchSpace:
    """The space declared at key path ``at`` of ``doc`` (``()`` for a block file, ``("space",)``
    in a sweep file); ConfigError listing every problem."""
    problems: list[Problem] = []
    specs: dict[str, tuple[Any, Origin]] = {}
    narrowed: set[str] = set()
    _collect(doc, at, [], specs, problems, narrowed)
    if problems:
        raise ConfigError(problems)
    declared = []
    origins: dict[str, Origin] = {}
    for name, (raw, origin) in specs.items():
        param = ParamParser(origin[0], problems).parse(name, raw, origin[1])
        if param is not None:
            declared.append(param)
            origins[name] = origin
    if problems:
        raise ConfigError(problems)
    return SearchSpace(declared, origins, frozenset(narrowed))


def _collect(
    doc: YamlDocument,
    at: KeyPath,
    chain: list[Path],
    specs: dict[str, tuple[Any, Origin]],
    problems: list[Problem],
    narrowed: set[str],
) -> None:
    """Merge includes (in order) then this document's params into ``specs``.

    A parameter redefined over an included one is recorded in ``narrowed``.
    """
    section = doc.data if not at else doc.data.get(at[-1], {})
    if not isinstance(section, dict):
        problems.append(doc.problem(at, f"expected a mapping with `include` and `params`, but got {section!r}"))
        return
    for key in section:
        if key not in ("include", "params", "description"):
            problems.append(
                doc.problem(
                    (*at, key),
                    f"unknown key {key!r}{did_you_mean(key, ['include', 'params'])}",
                    "a space holds `include` and `params`",
                )
            )
    includes = section.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        problems.append(doc.problem((*at, "include"), f"`include` must be a list of file paths, but got {includes!r}"))
        includes = []
    here = Path(doc.file).resolve()
    for i, rel in enumerate(includes):
        target = (here.parent / str(rel)).resolve()
        if target in chain or target == here:
            cycle = " -> ".join(str(p) for p in [*chain, here, target])
            problems.append(doc.problem((*at, "include", i), f"includes form a cycle: {cycle}", "remove one include"))
            continue
        if not target.is_file():
            problems.append(
                doc.problem(
                    (*at, "include", i),
                    f"included file does not exist: {rel!r} (resolved to {target})",
                    "includes are relative to the including file; check the path",
                )
            )
            continue
        try:
            block = read_yaml(target)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(block.data, dict):
            problems.append(block.problem((), "a search-space block is a mapping with `params`"))
            continue
        _collect(block, (), [*chain, here], specs, problems, narrowed)
    params = section.get("params", {})
    if not isinstance(params, dict):
        problems.append(
            doc.problem((*at, "params"), f"`params` must be a mapping of parameter names, but got {params!r}")
        )
        return
    for name, raw in params.items():
        origin: Origin = (doc, (*at, "params", name))
        name = str(name)
        if name in specs:
            narrowed.add(name)
        if raw is None:
            if name not in specs:
                problems.append(
                    doc.problem(origin[1], f"cannot remove {name!r}: no included block declares it", "drop this line")
                )
            specs.pop(name, None)
        elif isinstance(raw, dict) and "type" not in raw and name in specs and isinstance(specs[name][0], dict):
            specs[name] = ({**specs[name][0], **raw}, origin)  # partial override of an included parameter
        else:
            specs[name] = (raw, origin)
