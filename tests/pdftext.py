"""Read a PDF's text back as a reader would copy it: poppler's `pdftotext` (poppler-utils).

`readable` makes extracted text comparable with what was written without hiding a wrong
glyph: NFKC folds Arabic presentation forms (shaped glyphs) back to their letters; the bidi
controls pdftotext puts around right-to-left runs are dropped; runs of whitespace (line
wrapping) become one space. Letters themselves are never changed or reordered here.
"""

import re
import shutil
import subprocess
import unicodedata

import pytest

_BIDI_CONTROLS = dict.fromkeys(
    [0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)], None
)


def pdf_text(pdf: bytes) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: apt-get install poppler-utils (see .ci/run)")
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8")


def readable(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_BIDI_CONTROLS)
    return re.sub(r"\s+", " ", text).strip()


def pdf_readable(pdf: bytes) -> str:
    return readable(pdf_text(pdf))


# Fictional names and phrases, one per script every PDF must print as written.
SCRIPTS = {
    "issue 12": "Łukasz Nguyễn, goes by 张伟",
    "Latin": "Żółć Dvořák, François Müller, Søren Åström, İlkay Şahin",
    "Vietnamese": "Nguyễn Thị Hương, đường Lê Lợi, Phạm Quỳnh",
    "Greek": "Αθηνά Παπαδοπούλου",
    "Cyrillic": "Юлия Иванова-Щербакова",
    "Chinese": "张伟 王芳 陳美玲",
    "Japanese": "山田 太郎 やまだ タロウ",
    "Korean": "김민준 이서연",
    "Arabic": "محمد عبد الله",
}
