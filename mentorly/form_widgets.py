"""Text fields whose HTML attributes are written in one pass.

WTForms' `html_params` formats every attribute through `Markup.format` (a `string.Formatter`
per attribute), which was the largest single cost of rendering the Profile section. These
fields write the same HTML, every value escaped by `markupsafe.escape` as before, through the
`html_params` hook WTForms' input widgets offer for it (the textarea has no such hook, so its
five lines are written here).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from wtforms import StringField as _StringField
from wtforms import TextAreaField as _TextAreaField
from wtforms import widgets
from wtforms.widgets.core import clean_key

QUOTE, ESCAPED_QUOTE = Markup('"'), Markup("&quot;")


def html_params(**attributes: Any) -> str:
    """`name="value"` pairs sorted by name, as WTForms writes them: True is a bare attribute,
    False none, `class_` is `class` and `data_x`/`aria_x` are `data-x`/`aria-x`."""
    written = []
    for key, value in sorted(attributes.items()):
        if value is True:
            written.append(clean_key(key))
        elif value is not False:
            # escape() leaves Markup as it is, quotes included: inside an attribute they end it.
            written.append(f'{clean_key(key)}="{escape(value).replace(QUOTE, ESCAPED_QUOTE)}"')
    return " ".join(written)


class TextInput(widgets.TextInput):
    html_params = staticmethod(html_params)


class TextArea(widgets.TextArea):
    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for name in dir(flags):  # the flags set, whatever their value (minlength 0 included)
            if name in self.validation_attrs and name not in kwargs:
                kwargs[name] = getattr(flags, name)
        return Markup(f"<textarea {html_params(name=field.name, **kwargs)}>\r\n{escape(field._value())}</textarea>")


class StringField(_StringField):
    widget = TextInput()


class TextAreaField(_TextAreaField):
    widget = TextArea()
