"""The text fields' own attribute writer gives exactly WTForms' HTML, escaping included."""

from __future__ import annotations

import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import Form
from wtforms import StringField as WTFormsStringField
from wtforms import TextAreaField as WTFormsTextAreaField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import html_params as wtforms_html_params

from mentorly.form_widgets import StringField, TextAreaField, html_params


@pytest.mark.parametrize("attributes", [
    {},
    {"name": "bio", "id": "bio", "rows": 4},
    {"class_": "wide", "for_": "x", "data_max_characters": 160, "aria_describedby": "bio-help bio-error"},
    {"required": True, "disabled": False, "autofocus": True, "value": ""},
    {"value": '"><script>alert(1)</script>', "title": "Tom & Jerry's <b>"},
    {"value": Markup("<b>already safe</b>"), "placeholder": "naïve café 🙂", "maxlength": 0},
    {"aria_describedby": Markup('help" onfocus="alert(1)'), "title": Markup("a 'quoted' \"word\"")},
])
def test_attributes_are_written_as_wtforms_writes_them(attributes):
    assert str(html_params(**attributes)) == str(wtforms_html_params(**attributes))


class Ours(Form):
    name = StringField("Name", [InputRequired(), Length(max=5)])
    bio = TextAreaField("Bio", [InputRequired()])
    note = TextAreaField("Note", [Length(min=0, max=200)])


class Theirs(Form):
    name = WTFormsStringField("Name", [InputRequired(), Length(max=5)])
    bio = WTFormsTextAreaField("Bio", [InputRequired()])
    note = WTFormsTextAreaField("Note", [Length(min=0, max=200)])


@pytest.mark.parametrize("data", [{}, {"name": 'a"<b>&', "bio": "two\r\nlines </textarea><script>"}])
def test_fields_render_the_same_html_as_wtforms_fields(data):
    ours, theirs = Ours(MultiDict(data)), Theirs(MultiDict(data))
    ours.validate(), theirs.validate()
    extra = {"class_": "x", "aria_invalid": "true", "autofocus": True}
    assert str(ours.name(**extra)) == str(theirs.name(**extra))
    assert str(ours.bio(rows=4, **extra)) == str(theirs.bio(rows=4, **extra))
    assert str(ours.note()) == str(theirs.note())
    assert "<script>" not in str(ours.bio())
