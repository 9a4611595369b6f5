"""The YAML loader for settings files: safe loading with the costs bounded.

A settings file may come from anyone who can write to the deployment: aliases (a few hundred bytes
that expand to gigabytes), deep nesting (Python's recursion limit) and numbers or dates that Python
cannot read become one `yaml.MarkedYAMLError` naming the line, like any other YAML mistake.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

MAX_DEPTH = 32  # settings nest two deep (a list of strings); this leaves room and stays far from recursion


class SettingsLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses aliases and deep nesting, and reports unreadable values with their line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing an alias and anything nested deeper than MAX_DEPTH."""
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise ComposerError(None, None, "aliases (*name) are not allowed in a settings file", mark)
        if self.depth >= MAX_DEPTH:
            raise ComposerError(None, None, f"values nest more than {MAX_DEPTH} levels deep", mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:  # noqa: ANN401  # any YAML value
        """Construct a value; a ValueError (an integer of over 4300 digits, the 13th month) names its line."""
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:
            kind = node.tag.rpartition(":")[2]
            reason = str(exc).partition(";")[0]  # Python's advice after the ";" is for programmers
            raise ConstructorError(None, None, f"cannot read this {kind}: {reason}", node.start_mark) from None
