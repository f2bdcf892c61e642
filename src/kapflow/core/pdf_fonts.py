"""Fonts for every PDF kapflow makes, and the fpdf2 document class that draws with them.

Names and notes come in any script. The PDF core fonts (Helvetica) draw Latin-1 only, so
every PDF builder starts from `UnicodePdf`, which draws with Noto fonts from Debian packages
(found on disk, never downloaded, never committed) and shapes text with HarfBuzz
(`uharfbuzz`) where the text needs it, so Arabic letters join and run right to left and
Vietnamese marks stack:

- Noto Sans (fonts-noto-core): the body font; Latin with diacritics, Vietnamese, Greek,
  Cyrillic.
- Noto Sans Arabic (fonts-noto-core): fallback for Arabic.
- Noto Sans CJK SC (fonts-noto-cjk): fallback for Chinese, Japanese and Korean. It is a 20 MB
  collection that takes most of a second to load, so a document loads a fallback face only
  when its text needs it, and bold only for bold text (fallbacks have no italics).

Missing fonts fail loudly: the system check (`manage.py check`, `runserver`, `migrate`) and
the first PDF raise `PdfFontsMissing`, naming the packages to install. A character that no
font has is drawn as U+FFFD (a visible replacement mark), never "?", and only the number of
such characters is logged (no PHI). Builders pass every value they put inside a line of their
own (a name before a date) through `isolate`.
"""

import logging
import os
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from fontTools.ttLib import TTFont
from fpdf import FPDF

logger = logging.getLogger(__name__)

# Debian installs fonts-noto-core under truetype/noto and fonts-noto-cjk under opentype/noto;
# other systems put the same files elsewhere under these roots.
FONT_ROOTS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
PACKAGES = "fonts-noto-core fonts-noto-cjk"
BODY = "notosans"
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class Face:
    family: str  # fpdf2 family key: lower-case, no "b"/"i" confusion with styles
    style: str  # "", "B", "I" or "BI"
    filename: str
    package: str
    index: int = 0  # the face within a .ttc collection


# Body first, then the fallbacks in the order fpdf2 tries them.
FACES = (
    Face(BODY, "", "NotoSans-Regular.ttf", "fonts-noto-core"),
    Face(BODY, "B", "NotoSans-Bold.ttf", "fonts-noto-core"),
    Face(BODY, "I", "NotoSans-Italic.ttf", "fonts-noto-core"),
    Face(BODY, "BI", "NotoSans-BoldItalic.ttf", "fonts-noto-core"),
    Face("notosansarabic", "", "NotoSansArabic-Regular.ttf", "fonts-noto-core"),
    Face("notosansarabic", "B", "NotoSansArabic-Bold.ttf", "fonts-noto-core"),
    # Index 2 is "Noto Sans CJK SC": one face draws Han, kana and Hangul.
    Face("notosanscjk", "", "NotoSansCJK-Regular.ttc", "fonts-noto-cjk", index=2),
    Face("notosanscjk", "B", "NotoSansCJK-Bold.ttc", "fonts-noto-cjk", index=2),
)
FALLBACKS = tuple(dict.fromkeys(f.family for f in FACES if f.family != BODY))


class PdfFontsMissing(ImproperlyConfigured):
    """The font files PDFs need are not installed."""


@cache
def font_paths() -> dict[Face, Path]:
    """Where each face's file is. Raises PdfFontsMissing (not cached) if any is missing."""
    wanted = {face.filename for face in FACES}
    found: dict[str, Path] = {}
    for root in FONT_ROOTS:
        for directory, _dirs, files in os.walk(root):
            for name in wanted.intersection(files):
                found.setdefault(name, Path(directory) / name)
    missing = sorted(wanted - found.keys())
    if missing:
        packages = sorted({face.package for face in FACES if face.filename in missing})
        raise PdfFontsMissing(
            f"PDF fonts not found under {', '.join(map(str, FONT_ROOTS))}: "
            f"{', '.join(missing)}. Install them with: apt-get install {' '.join(packages)}"
        )
    return {face: found[face.filename] for face in FACES}


@cache
def _coverage(family: str) -> frozenset[str]:
    """The characters a family draws (its regular face; the styles cover the same)."""
    face = next(f for f in FACES if f.family == family and f.style == "")
    font = TTFont(font_paths()[face], fontNumber=face.index, lazy=True)
    return frozenset(map(chr, font.getBestCmap()))


# Right-to-left letters and numbers, and the explicit right-to-left controls.
_RTL_CLASSES = frozenset({"R", "AL", "AN", "RLE", "RLO", "RLI"})


def needs_shaping(text: str) -> bool:
    """Whether drawing `text` needs HarfBuzz: right-to-left text (bidi order, Arabic joining),
    combining marks (decomposed Vietnamese, stacked accents) or joiner controls. Other text
    maps one character to one glyph, and fpdf2 lays it out several times faster unshaped."""
    return any(
        unicodedata.bidirectional(ch) in _RTL_CLASSES
        or unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch in "\u200c\u200d"
        for ch in set(text)
    )


def isolate(value) -> str:
    """`value` (a name, a title) ready to sit inside a line of ours. If it holds right-to-left
    text a LEFT-TO-RIGHT MARK follows it: otherwise, in "محمد, 2026-12-07" the digits after
    the Arabic name take its direction and the date prints as 07-12-2026. Draw such lines
    with `UnicodePdf.direction = "ltr"`. (Isolates, FSI ... PDI, order the same but fpdf2
    draws them inside the Arabic run, which splits a word in the text layer; so does a mark
    before the name.)"""
    value = str(value or "")
    if any(unicodedata.bidirectional(ch) in _RTL_CLASSES for ch in set(value)):
        return f"{value}\u200e"
    return value


def _clean(text) -> str:
    """Control characters become spaces (tabs four), except newlines; carriage returns go."""
    text = str(text or "").replace("\r", "").replace("\t", "    ")
    return "".join(" " if ch != "\n" and unicodedata.category(ch) == "Cc" else ch for ch in text)


class UnicodePdf(FPDF):
    """An FPDF that draws every script: Noto Sans, shaped, with per-document fallbacks.

    Use only the families registered here (`BODY` and its styles); a core font would reduce
    text to Latin-1, so `set_font` refuses one.

    `direction` is the base direction of the paragraphs drawn next: None (the default) takes
    each paragraph's first strong letter, as free text should; "ltr" suits a line of ours
    ("Signed: <name>, <date>") that may start with a right-to-left name. Either way
    right-to-left runs inside are ordered right to left."""

    direction: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._paths = font_paths()
        self._loaded: set[Face] = set()
        self.missing_characters: set[str] = set()
        for face in FACES:
            if face.family == BODY:
                self._load(face)
        self.set_text_shaping(True)  # raises now, not on the first Arabic name, without uharfbuzz
        self.set_font(BODY, size=10)

    def _load(self, face: Face) -> None:
        if face in self._loaded:
            return
        self.add_font(face.family, face.style, self._paths[face], collection_font_number=face.index)
        self._loaded.add(face)
        if face.family != BODY:
            # exact_match=False: a run in a style the fallback lacks (italic) uses its
            # nearest loaded face instead of no glyph at all.
            loaded = {f.family for f in self._loaded}
            self.set_fallback_fonts([f for f in FALLBACKS if f in loaded], exact_match=False)

    def _fallback_face(self, family: str) -> Face:
        """The face of `family` for the current style: bold if bold, else regular."""
        faces = {f.style: f for f in FACES if f.family == family}
        return faces.get("B" if "B" in self.font_style else "", faces[""])

    def set_font(self, family=None, style="", size=0):
        if family and family.lower() not in {BODY, *FALLBACKS}:
            raise ValueError(f"{family!r} is not a kapflow PDF font; use pdf_fonts.BODY.")
        super().set_font(family, style, size)

    def normalize_text(self, text: str) -> str:
        """Every text fpdf2 measures or draws passes here first: load the fallback faces it
        needs (only then: a CJK face costs most of a second), mark what none can draw, and
        shape it only if it needs shaping."""
        text = _clean(text)
        absent = set(text) - _coverage(BODY) - {"\n"}
        for family in FALLBACKS:
            covered = absent & _coverage(family)
            if covered:
                self._load(self._fallback_face(family))
                absent -= covered
        if absent:
            self.missing_characters |= absent
            text = "".join(REPLACEMENT if ch in absent else ch for ch in text)
        # fpdf2 reads the shaping setting after this call, for this text only.
        if needs_shaping(text):
            self.set_text_shaping(True, direction=self.direction)
        else:
            self.set_text_shaping(False)
        return super().normalize_text(text)

    def output(self, *args, **kwargs):
        if self.missing_characters:
            logger.warning("pdf.characters_missing", extra={"count": len(self.missing_characters)})
        return super().output(*args, **kwargs)


def check_pdf_fonts(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """System check (registered by CoreConfig.ready): no PDF without its fonts and shaping."""
    errors = []
    try:
        font_paths()
    except PdfFontsMissing as exc:
        errors.append(checks.Error(str(exc), id="core.E001"))
    try:
        import uharfbuzz  # noqa: F401
    except ImportError:
        errors.append(
            checks.Error(
                "uharfbuzz is not installed; PDFs cannot shape Arabic or Vietnamese text.",
                hint="Install the locked requirements (requirements/base.lock).",
                id="core.E002",
            )
        )
    return errors
