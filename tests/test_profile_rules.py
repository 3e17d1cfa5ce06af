"""Every profile rule of the spec at its boundary, checked on the form classes themselves.

These call the forms directly (the HTTP tests in test_settings_profile.py post the same values
through the page with CSRF on); `validate_profile_fields` is the path `update_user_profile` uses.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict

from mentorly.extensions import db
from mentorly.profile import ProfileError, validate_profile_fields, visible_length
from mentorly.settings.forms import AVATAR_MAX_BYTES, AvatarForm, ProfileForm, ProfileNamesForm, prepare_avatar
from mentorly.timezones import COMMON_TIMEZONES
from mentorly.users import get_user_by_clerk_id, sync_user_to_db, update_user_profile

from .conftest import clerk_user
from .settings_support import image_bytes

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one visible character, five code points
FLAG = "\U0001f1eb\U0001f1f7"


@pytest.fixture
def ctx(app):
    with app.test_request_context(method="POST"):
        yield app


def bio_ok(value: str) -> bool:
    try:
        validate_profile_fields({"bio": value})
    except ProfileError as exc:
        assert list(exc.errors) == ["bio"]
        return False
    return True


# --- Bio ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bio, accepted",
    [
        ("a" * 160, True),
        ("a" * 161, False),
        ("\U0001f600" * 160, True),  # each emoji is one character, though two UTF-16 units
        ("\U0001f600" * 161, False),
        (FAMILY * 160, True),  # a ZWJ family is one character
        (FAMILY * 161, False),
        (FLAG * 160, True),
        ("e\u0301" * 160, True),  # e + combining accent: one character
        ("a" * 80 + "\r\n" + "a" * 79, True),  # CRLF is one line break: 160
        ("a" * 80 + "\r\n" + "a" * 80, False),  # 161
        ("a\r\n" * 80, True),  # 80 letters + 79 breaks after trimming the last one
        ("  " + "a" * 160 + " \r\n", True),  # surrounding whitespace is not kept
    ],
    ids=["160", "161", "emoji-160", "emoji-161", "zwj-160", "zwj-161", "flags-160", "combining-160",
         "crlf-160", "crlf-161", "crlf-many", "trimmed"],
)
def test_bio_length_counts_what_a_person_sees(ctx, bio, accepted):
    assert bio_ok(bio) is accepted


def test_bio_is_stored_with_one_line_break_per_crlf(ctx):
    assert validate_profile_fields({"bio": "one\r\ntwo\rthree\n"}) == {"bio": "one\ntwo\nthree"}


def test_bio_error_names_the_limit_and_the_count(ctx):
    with pytest.raises(ProfileError) as caught:
        validate_profile_fields({"bio": FAMILY * 161})
    assert caught.value.errors["bio"] == ["Bio can be at most 160 characters (it has 161)."]


def test_bio_refuses_control_characters_and_floods_of_combining_marks(ctx):
    assert not bio_ok("hello\x00world")
    assert not bio_ok("a" + "\u0301" * 5000)  # one visible character, 5001 code points
    assert bio_ok("tab\tand\nbreak")


def test_visible_length_agrees_with_the_rule():
    assert visible_length(FAMILY + FLAG + "ab") == 4


# --- Website ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, stored",
    [
        ("example.com", "https://example.com"),
        ("  example.com/path?q=1  ", "https://example.com/path?q=1"),
        ("example.com:8080/x", "https://example.com:8080/x"),
        ("//example.com", "https://example.com"),
        ("http://example.com", "http://example.com"),
        ("HTTPS://Example.com/A", "HTTPS://Example.com/A"),
        ("https://bücher.example", "https://bücher.example"),
        ("", None),
    ],
)
def test_website_accepts_http_and_https_and_completes_bare_domains(ctx, given, stored):
    assert validate_profile_fields({"website": given}) == {"website": stored}


@pytest.mark.parametrize(
    "given",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "DATA:text/html;base64,PHNjcmlwdD4=",
        "ftp://example.com/file",
        "mailto:someone@example.com",
        "https://mentorly.example@evil.example",
        "https://exa mple.com",
        "https://",
        "notadomain",
        "https://example.com:99999",
    ],
)
def test_website_refuses_other_schemes_and_non_addresses(ctx, given):
    with pytest.raises(ProfileError) as caught:
        validate_profile_fields({"website": given})
    assert list(caught.value.errors) == ["website"]


def test_website_length_boundary(ctx):
    base = "https://example.com/"
    assert validate_profile_fields({"website": base + "a" * (2048 - len(base))})
    with pytest.raises(ProfileError):
        validate_profile_fields({"website": base + "a" * (2049 - len(base))})


# --- Location, timezone ---------------------------------------------------------------------


def test_location_length_boundary(ctx):
    assert validate_profile_fields({"location": "x" * 100}) == {"location": "x" * 100}
    with pytest.raises(ProfileError):
        validate_profile_fields({"location": "x" * 101})


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kathmandu", "America/Argentina/Buenos_Aires", "Pacific/Chatham"])
def test_timezone_accepts_iana_names(ctx, zone):
    assert validate_profile_fields({"timezone": zone}) == {"timezone": zone}


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "utc ", "asia/kathmandu", "", "../../etc/passwd", "EST+5"])
def test_timezone_refuses_unknown_names(ctx, zone):
    with pytest.raises(ProfileError) as caught:
        validate_profile_fields({"timezone": zone})
    assert list(caught.value.errors) == ["timezone"]


def test_the_fourteen_common_zones_are_listed_first(ctx):
    form = ProfileForm(formdata=None, meta={"csrf": False}, data={"timezone": "Asia/Kathmandu"})
    html = str(form.timezone())
    options = html.split("<option ")[1:]
    assert len(COMMON_TIMEZONES) == 14
    assert [option.split('"')[1] for option in options[:14]] == list(COMMON_TIMEZONES)
    assert len(options) > 300  # every IANA zone is offered after them
    assert html.count(" selected") == 1 and 'value="Asia/Kathmandu" selected' in html


# --- What update_user_profile may change ----------------------------------------------------------


def test_clerk_owned_and_unknown_fields_are_refused(ctx):
    with pytest.raises(ProfileError) as caught:
        validate_profile_fields({"username": "someone", "is_onboarded": True, "bio": "fine"})
    assert set(caught.value.errors) == {"username", "is_onboarded"}


def test_update_user_profile_saves_cleaned_values_and_refuses_bad_ones(app):
    with app.app_context():
        user = sync_user_to_db(clerk_user(username="rules_user"))
        clerk_id = user.clerk_id
        update_user_profile(clerk_id, bio="hi\r\nthere", website="example.com", timezone="Asia/Tokyo")
        with pytest.raises(ProfileError):
            update_user_profile(clerk_id, website="javascript:alert(1)")
        with pytest.raises(ProfileError):
            update_user_profile(clerk_id, first_name="Mallory")
        db.session.expire_all()
        user = get_user_by_clerk_id(clerk_id)
        assert (user.bio, user.website, user.timezone, user.first_name) == (
            "hi\nthere", "https://example.com", "Asia/Tokyo", "Test"
        )


# --- Names and username ---------------------------------------------------------------------------


def names_form(user=None, **values):
    data = {"first_name": "Ada", "last_name": "Lovelace", "username": "ada_l"}
    data.update(values)
    return ProfileNamesForm(formdata=MultiDict(data), meta={"csrf": False}, user=user)


@pytest.mark.parametrize(
    "username, accepted",
    [
        ("abcd", True),
        ("abc", False),
        ("a" * 64, True),
        ("a" * 65, False),
        ("with space", False),
        ("dot.name", False),
        ("héllo", False),
        ("emoji\U0001f600", False),
        ("12345", False),
        ("1234a", True),
        ("12_34", True),
        ("-__-", True),
        ("", False),
    ],
)
def test_username_rules(ctx, username, accepted):
    form = names_form(username=username)
    assert form.validate() is accepted, form.errors
    if not accepted:
        assert list(form.errors) == ["username"]


def test_username_is_lowercased_before_the_rules(ctx):
    form = names_form(username="  Ada_Lovelace ")
    assert form.validate()
    assert form.username.data == "ada_lovelace"


def test_username_taken_locally_is_refused_whatever_its_case(ctx):
    sync_user_to_db(clerk_user(username="taken_name"))
    form = names_form(username="TAKEN_Name")
    assert not form.validate()
    assert form.errors == {"username": ["That username is taken. Please try another."]}


def test_own_username_is_not_taken_and_a_deleted_users_is_free(ctx):
    me = sync_user_to_db(clerk_user(username="mine"))
    assert names_form(user=me, username="MINE").validate()
    other = sync_user_to_db(clerk_user(username="gone_user"))
    from mentorly.users import delete_user_from_db

    delete_user_from_db(other.clerk_id)
    assert names_form(user=me, username="gone_user").validate()


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_name_length_boundary(ctx, field):
    assert names_form(**{field: "n" * 256}).validate()
    form = names_form(**{field: "n" * 257})
    assert not form.validate() and list(form.errors) == [field]


# --- Avatar ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "WEBP"])
def test_real_images_of_each_format_pass(image_format):
    prepared = prepare_avatar(image_bytes(image_format))
    assert prepared.content_type == {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
                                     "WEBP": "image/webp"}[image_format]
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.format == image_format
        assert image.size == (64, 48)


def test_a_text_file_named_png_fails():
    with pytest.raises(ValueError, match="PNG, JPEG, GIF or WebP"):
        prepare_avatar(b"just some text, honestly\n" * 10)


@pytest.mark.parametrize("image_format", ["BMP", "TIFF", "ICO"])
def test_other_image_formats_fail(image_format):
    with pytest.raises(ValueError, match="PNG, JPEG, GIF or WebP"):
        prepare_avatar(image_bytes(image_format))


def test_ten_megabytes_plus_one_byte_fails_and_a_truncated_image_fails():
    with pytest.raises(ValueError, match="10 MB"):
        prepare_avatar(b"\x89PNG\r\n\x1a\n" + b"\0" * (AVATAR_MAX_BYTES + 1 - 8))
    with pytest.raises(ValueError):
        prepare_avatar(image_bytes("PNG", (300, 300))[:200])


def test_metadata_is_stripped_and_large_images_scaled_down():
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPS latitude
    original = io.BytesIO()
    Image.new("RGB", (3000, 1500), (10, 120, 200)).save(original, "JPEG", exif=exif.tobytes(), quality=80)
    assert b"SpyCam" in original.getvalue()

    prepared = prepare_avatar(original.getvalue())
    assert b"SpyCam" not in prepared.data
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.size == (1024, 512)
        assert not image.getexif()
        assert "exif" not in image.info


def test_png_text_chunks_are_stripped():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Secret Person")
    raw = image_bytes("PNG", pnginfo=info)
    assert b"Secret Person" in raw
    assert b"Secret Person" not in prepare_avatar(raw).data


def test_a_decompression_bomb_is_refused_without_decoding():
    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(bomb, "PNG")  # 100 megapixels in a small file
    with pytest.raises(ValueError, match="too many pixels"):
        prepare_avatar(bomb.getvalue())


def test_avatar_form_reads_the_upload(ctx):
    upload = FileStorage(io.BytesIO(image_bytes("WEBP")), filename="me.webp", content_type="image/webp")
    form = AvatarForm(formdata=MultiDict({"avatar": upload}), meta={"csrf": False})
    assert form.validate(), form.errors
    assert form.prepared.filename == "avatar.webp"
    fake = FileStorage(io.BytesIO(b"not an image"), filename="me.png", content_type="image/png")
    form = AvatarForm(formdata=MultiDict({"avatar": fake}), meta={"csrf": False})
    assert not form.validate() and list(form.errors) == ["avatar"]
