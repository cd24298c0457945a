"""What PyYAML does not report well: syntax errors (as one line pointing where the
problem started) and repeated keys (which it silently resolves to the last one)."""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["duplicate_keys", "yaml_error"]


def yaml_error(file: Path, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        problem = exc.problem or "syntax error"
        mark = exc.problem_mark
        context = exc.context_mark
        if exc.context and context is not None and "end of stream" in problem:
            # The parser ran off the end of the file (e.g. a quote never closed):
            # point where the construct began, not at the end of the file.
            return (
                f"{file}: line {context.line + 1}, column {context.column + 1}: invalid YAML: "
                f"{problem} ({exc.context} that starts here; the parser stopped at "
                f"line {mark.line + 1}, column {mark.column + 1})"
            )
        if exc.context:
            problem = f"{problem} ({exc.context})"
        return f"{file}: line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {problem}"
    return f"{file}: invalid YAML: {exc}"


def duplicate_keys(text: str) -> list[str]:
    """PyYAML silently keeps the last of two equal keys; a repeated section or key is
    almost always a mistake, so it is reported like any other."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    found: list[str] = []
    seen: set[int] = set()  # aliases share nodes; visit each once

    def walk(node: yaml.Node | None, path: str) -> None:
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    walk(value_node, path)
                    continue
                key = str(key_node.value)
                child = f"{path}.{key}" if path else key
                line = key_node.start_mark.line + 1
                if key in lines:
                    found.append(f"{child}: duplicate key (lines {lines[key]} and {line})")
                else:
                    lines[key] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    walk(root, "")
    return found
