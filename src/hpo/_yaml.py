"""Safe YAML reading that remembers the line of every key, for errors that point at the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpo._errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """Render ``("space", "params", "lr", "low")`` as ``space.params.lr.low`` and indexes as ``[i]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class YamlDocument:
    """A parsed YAML file: its data and the line of each key path."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def problem(self, path: KeyPath, message: str, fix: str = "") -> Problem:
        return Problem(self.file, format_path(path), message, fix, self.line(path))


def read_yaml(path: Path) -> YamlDocument:
    """Read ``path`` with the safe loader; syntax errors and duplicate keys become ConfigError."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(file, "", "file does not exist", "check the path")]) from None
    except OSError as exc:
        raise ConfigError([Problem(file, "", f"cannot read file: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"YAML syntax error: {exc.problem or exc.context}"
        raise ConfigError([Problem(file, "", message, "fix the YAML syntax at that line", line)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, "", f"YAML error: {exc}")]) from None
    doc = YamlDocument(file, data)
    problems: list[Problem] = []
    if node is not None:
        _index(node, (), doc, problems)
    if problems:
        raise ConfigError(problems)
    return doc


def _index(node: yaml.Node, path: KeyPath, doc: YamlDocument, problems: list[Problem]) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                problems.append(
                    Problem(
                        doc.file,
                        format_path(child),
                        "duplicate key: each key may appear once in a mapping",
                        "remove or rename one of them",
                        key_node.start_mark.line + 1,
                    )
                )
            seen.add(key)
            doc.lines[child] = key_node.start_mark.line + 1
            _index(value_node, child, doc, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), doc, problems)
