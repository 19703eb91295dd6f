"""Title and URL templates: plain ``{Column}`` substitution, nothing more.

The original tool used Python's ``str.format`` on the whole CSV row, which lets a template reach
``{0.__class__}`` or ``{x[0]}``. Here a template is parsed once into literal text and column
names; attribute access, indexing, conversions and format specs are refused with a clear error.
``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from cviz.errors import TemplateError

_FIELD_RE = re.compile(r"[^{}\[\].!:]+")


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[tuple[bool, str], ...]  # (is_field, text)

    @property
    def columns(self) -> list[str]:
        return [text for is_field, text in self.parts if is_field]

    def render(self, row: Mapping[str, str]) -> str:
        """Substitute each ``{Column}``; a missing or empty value renders as empty text."""
        out = []
        for is_field, text in self.parts:
            out.append((row.get(text) or "") if is_field else text)
        return "".join(out)

    def check_columns(self, available: list[str], what: str) -> None:
        missing = [c for c in self.columns if c not in available]
        if missing:
            raise TemplateError(
                f"{what} template {self.source!r} names column(s) {missing} that the metadata CSV "
                f"does not have; columns found: {available}"
            )


def parse_template(source: str, what: str = "template") -> Template:
    """Parse ``source`` into a Template or raise TemplateError naming the offending field."""
    if not isinstance(source, str):
        raise TemplateError(f"{what} must be text, got {type(source).__name__}")
    parts: list[tuple[bool, str]] = []
    i, literal = 0, []
    while i < len(source):
        ch = source[i]
        if ch == "{":
            if source.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = source.find("}", i + 1)
            if end < 0:
                raise TemplateError(f"{what} {source!r}: '{{' at position {i} is never closed")
            field = source[i + 1 : end]
            if not _FIELD_RE.fullmatch(field) or field.strip() != field or field.isdigit():
                raise TemplateError(
                    f"{what} {source!r}: placeholder {{{field}}} is not allowed; use a plain column name "
                    "like {title} (no attribute access, indexing, conversion or format spec)"
                )
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, field))
            i = end + 1
        elif ch == "}":
            if source.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise TemplateError(f"{what} {source!r}: single '}}' at position {i}; write '}}}}' for a brace")
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return Template(source, tuple(parts))
