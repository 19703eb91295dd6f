"""Title and URL templates: plain ``{Column}`` substitution, nothing more.

The original tool used Python's ``str.format`` on the whole CSV row, which lets a template reach
``{0.__class__}`` or ``{x[0]}``. Here a template is parsed once into literal text and column
names; attribute access, indexing, conversions and format specs are refused with a clear error.
``{{`` and ``}}`` stand for literal braces. A column whose name is not a plain name (``Acc. No.``,
``Date [approx]``, ``Title: English``) is named in double quotes: ``{"Acc. No."}``.
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
        if ch == "{" and source.startswith("{{", i):
            literal.append("{")
            i += 2
        elif ch == "{":
            field, i = _quoted_field(source, i, what) if source.startswith('{"', i) else _plain_field(source, i, what)
            if literal:
                parts.append((False, "".join(literal)))
                literal = []
            parts.append((True, field))
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


def _quoted_field(source: str, i: int, what: str) -> tuple[str, int]:
    """``{"Acc. No."}`` at ``i``: (the column name, the position after it). Any character but '"'."""
    end = source.find('"}', i + 2)
    if end < 0:
        raise TemplateError(f'{what} {source!r}: {{" at position {i} is never closed by "}}')
    field = source[i + 2 : end]
    if not field or '"' in field:
        raise TemplateError(f'{what} {source!r}: {{"{field}"}} is not a column name (no \'"\' inside)')
    return field, end + 2


def _plain_field(source: str, i: int, what: str) -> tuple[str, int]:
    """``{title}`` at ``i``: (the column name, the position after it)."""
    end = source.find("}", i + 1)
    if end < 0:
        raise TemplateError(f"{what} {source!r}: '{{' at position {i} is never closed")
    field = source[i + 1 : end]
    if not _FIELD_RE.fullmatch(field) or field.strip() != field or field.isdigit():
        raise TemplateError(
            f"{what} {source!r}: placeholder {{{field}}} is not allowed; use a plain column name "
            "like {title} (no attribute access, indexing, conversion or format spec), or quote a column "
            f'name with such characters: {{"{field.strip()}"}}'
        )
    return field, end + 1
