"""Prompt templates: Python format strings whose placeholders each strategy (or the judge) declares.

A neutral leaf module: the spec checks a user's template at load with the same parser that fills it
at run time, so a template that loads is a template that renders. Literal braces are written `{{`
and `}}` (as in `str.format`).
"""

from __future__ import annotations

from string import Formatter


class TemplateError(ValueError):
    """A prompt template that cannot be filled in; the message says what to change."""


def template_fields(template: str) -> list[str]:
    """The placeholder names a template uses, in order; TemplateError when it does not parse."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    fields = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise TemplateError(f"placeholder {{{name}}} is not a plain name: use {{name}} without attributes, "
                                "indexes or positions; write a literal brace as {{ or }}")
        if spec or conversion:
            raise TemplateError(f"placeholder {{{name}}} takes no format spec or conversion; write it as {{{name}}}")
        fields.append(name)
    return fields


def check_template(template: str, owner: str, allowed: tuple[str, ...], required: tuple[str, ...] = ("input",)) -> None:
    """Refuse a template that would send the teacher something other than what the user meant."""
    fields = template_fields(template)
    listed = ", ".join("{" + f + "}" for f in allowed)
    unknown = [f for f in dict.fromkeys(fields) if f not in allowed]
    if unknown:
        raise TemplateError(f"placeholder {', '.join('{' + f + '}' for f in unknown)} is not one of {owner}'s "
                            f"placeholders ({listed}); write a literal brace as {{{{ or }}}}")
    missing = [f for f in required if f not in fields]
    if missing:
        raise TemplateError(f"the prompt never uses {', '.join('{' + f + '}' for f in missing)}, so the teacher would never "
                            f"see the row's own text and every row would send the same prompt; add it ({owner} takes {listed})")


def render(template: str, **fields: str) -> str:
    """Fill a template checked by `check_template`; field values are inserted as they are, never re-parsed."""
    return template.format_map(fields)
