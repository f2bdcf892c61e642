"""The |tel filter: every phone number shown is a link a phone can dial."""

import pytest
from django.template import engines

from kapflow.core.templatetags.phone import tel_target


@pytest.mark.parametrize(
    ("shown", "target"),
    [
        ("(503) 555-0140", "+15035550140"),
        ("503.555.0140", "+15035550140"),
        ("1-800-222-1222", "+18002221222"),
        ("+44 20 7946 0000", "+442079460000"),
        ("911", "911"),
        ("988", "988"),
        ("no phone", ""),
    ],
)
def test_tel_target_keeps_only_what_a_phone_dials(shown, target):
    assert tel_target(shown) == target


def _render(source: str, **context) -> str:
    # A builtin: no {% load %} needed in any template.
    return engines["django"].from_string(source).render(context)


def test_tel_is_a_builtin_link_with_the_number_as_shown():
    html = _render("{{ n|tel }}", n="(503) 555-0140")
    assert html == '<a href="tel:+15035550140" class="tel">(503) 555-0140</a>'
    assert _render('{{ "988"|tel }}') == '<a href="tel:988" class="tel">988</a>'


def test_tel_of_nothing_falls_back_to_the_default():
    assert _render('{{ n|tel|default:"—" }}', n="") == "—"
    assert _render('{{ n|tel|default:"—" }}', n=None) == "—"


def test_tel_escapes_what_it_shows():
    html = _render("{{ n|tel }}", n='555-0100 <script>"x"</script>')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.startswith('<a href="tel:')


def test_text_without_digits_is_shown_as_text():
    assert _render("{{ n|tel }}", n="ask at reception") == "ask at reception"


@pytest.mark.django_db
def test_the_footer_and_the_crisis_lines_dial(client):
    """The public pre-screen and every page's footer link 911 and 988."""
    html = client.get("/screen/").content.decode()
    assert 'href="tel:988"' in html and 'href="tel:911"' in html
