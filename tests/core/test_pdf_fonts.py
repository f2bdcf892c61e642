"""kapflow.core.pdf_fonts: every script prints as written, shaped; missing fonts fail loudly;
a character no font has shows as U+FFFD and is counted in the log, never a silent "?"."""

import logging
import unicodedata

import pytest

from kapflow.core import pdf_fonts
from kapflow.core.pdf_fonts import BODY, PdfFontsMissing, UnicodePdf, check_pdf_fonts
from tests.pdftext import SCRIPTS, pdf_readable, readable


def _render(lines) -> bytes:
    pdf = UnicodePdf()
    pdf.add_page()
    for line in lines:
        pdf.multi_cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_every_script_comes_back_from_the_pdf_unchanged_in_every_style():
    styles = {"": "Regular", "B": "Bold", "I": "Italic", "BI": "Bold italic"}
    pdf = UnicodePdf()
    pdf.add_page()
    for style, name in styles.items():
        pdf.set_font(BODY, style=style, size=11)
        for sample in SCRIPTS.values():
            pdf.multi_cell(0, 7, f"{name}: {sample}", new_x="LMARGIN", new_y="NEXT")
    text = pdf_readable(bytes(pdf.output()))
    for name in styles.values():
        for script, sample in SCRIPTS.items():
            assert f"{name}: {readable(sample)}" in text, (name, script)
    assert "?" not in text and pdf_fonts.REPLACEMENT not in text


def test_decomposed_vietnamese_marks_come_back_as_the_same_letters():
    decomposed = unicodedata.normalize("NFD", SCRIPTS["Vietnamese"])
    assert decomposed != SCRIPTS["Vietnamese"]
    assert readable(SCRIPTS["Vietnamese"]) in pdf_readable(_render([decomposed]))


def test_arabic_is_shaped():
    # Joined (initial, medial, final) forms have other advances than the isolated letters,
    # so a shaped word is not as wide as its letters drawn one at a time.
    pdf = UnicodePdf()
    word = SCRIPTS["Arabic"].split()[0]
    assert pdf.get_string_width(word) != pytest.approx(
        sum(pdf.get_string_width(letter) for letter in word)
    )


@pytest.mark.parametrize(
    ("script", "shaped"),
    [("Arabic", True), ("Latin", False), ("Greek", False), ("Cyrillic", False),
     ("Chinese", False), ("Vietnamese", False)],
)  # fmt: skip
def test_text_is_shaped_when_it_needs_it(script, shaped):
    assert pdf_fonts.needs_shaping(SCRIPTS[script]) is shaped
    assert pdf_fonts.needs_shaping(unicodedata.normalize("NFD", "Nguyễn"))  # combining marks


def test_a_character_no_font_has_is_a_visible_replacement_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="kapflow.core.pdf_fonts"):
        text = pdf_readable(_render(["leaf 🌿 here"]))
    assert text == f"leaf {pdf_fonts.REPLACEMENT} here"
    [record] = [r for r in caplog.records if r.getMessage() == "pdf.characters_missing"]
    assert record.count == 1


def test_control_characters_become_spaces_and_newlines_stay():
    assert pdf_fonts._clean("ü\u0000x\ty\r\nz") == "ü x    y\nz"
    assert pdf_fonts._clean(None) == ""


def test_a_fallback_font_is_loaded_only_when_the_text_needs_it():
    latin = UnicodePdf()
    latin.add_page()
    latin.multi_cell(0, 7, SCRIPTS["Latin"] + " " + SCRIPTS["Greek"])
    assert set(latin.fonts) == {BODY, f"{BODY}B", f"{BODY}I", f"{BODY}BI"}
    mixed = UnicodePdf()
    mixed.add_page()
    mixed.multi_cell(0, 7, SCRIPTS["Korean"])
    assert "notosanscjk" in mixed.fonts  # regular text loads the regular face only
    assert "notosanscjkB" not in mixed.fonts and "notosansarabic" not in mixed.fonts


def test_a_core_font_is_refused():
    with pytest.raises(ValueError, match="not a kapflow PDF font"):
        UnicodePdf().set_font("Helvetica")


@pytest.fixture
def no_fonts(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf_fonts, "FONT_ROOTS", (tmp_path,))
    pdf_fonts.font_paths.cache_clear()
    yield
    pdf_fonts.font_paths.cache_clear()


def test_missing_fonts_fail_loudly_naming_the_packages(no_fonts):
    with pytest.raises(PdfFontsMissing, match="apt-get install fonts-noto-cjk fonts-noto-core"):
        UnicodePdf()
    [error] = check_pdf_fonts()
    assert error.id == "core.E001" and "NotoSansCJK-Regular.ttc" in error.msg


def test_the_system_check_passes_with_the_fonts_installed():
    assert check_pdf_fonts() == []
