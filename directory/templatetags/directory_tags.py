"""Template tags of the directory pages."""

from __future__ import annotations

from django import template
from django.template import TemplateDoesNotExist

register = template.Library()


@register.simple_tag(takes_context=True)
def optional_include(context, template_name: str, **kwargs):
    """Render `template_name` with the current context plus `kwargs`, or nothing if there is no such template.

    The user and device pages show licenses through a partial of the assignments app; until (or unless) that
    app provides it, the pages simply leave the place empty.
    """
    try:
        partial = context.template.engine.get_template(template_name)
    except TemplateDoesNotExist:
        return ""
    with context.push(**kwargs):
        return partial.render(context)
