"""Attachment checks: the type comes from the first bytes and must match the name."""

import io

import pytest
from django.core.exceptions import ValidationError

from kapflow.messaging.files import (
    MAX_BYTES,
    AttachmentLimitHandler,
    check_upload,
    check_uploads,
    clean_name,
    sniff,
)
from tests.messaging.factories import EXE, JPEG, PDF, PNG, TEXT, upload


@pytest.mark.parametrize(
    ("data", "kind"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (TEXT, None), (EXE, None)],
)
def test_sniff_reads_magic_numbers(data, kind):
    assert sniff(data[:16]) == kind


def test_the_browsers_content_type_is_ignored():
    checked = check_upload(upload("a.png", PNG, "application/x-msdownload"), position=1)
    assert checked.content_type == "image/png"


@pytest.mark.parametrize(
    "data",
    [b"#!/bin/sh\nrm -rf /\n", b"PK\x03\x04zipped", "caf\xe9".encode("latin-1"), b"a\x1bb"],
)
def test_text_that_is_not_plain_text_is_refused(data):
    with pytest.raises(ValidationError):
        check_upload(upload("notes.txt", data), position=1)


def test_utf8_text_with_accents_is_plain_text():
    assert check_upload(upload("notes.txt", "Café, naïve\r\n".encode()), position=1)


def test_upload_is_rewound_for_storing():
    checked = check_upload(upload("a.pdf", PDF), position=1)
    assert checked.upload.read() == PDF


def test_no_uploads_is_fine():
    assert check_uploads(None) == []


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("C:\\Users\\me\\scan.pdf", "scan.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("", "attachment"),
        ("...", "attachment"),
        ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
    ],
)
def test_clean_name(name, cleaned):
    assert clean_name(name) == cleaned


def _parse(parts: list[tuple[str, bytes]]):
    """Parse a multipart body through AttachmentLimitHandler and Django's own handlers."""
    from django.core.files.uploadhandler import (
        MemoryFileUploadHandler,
        TemporaryFileUploadHandler,
    )
    from django.http.multipartparser import MultiPartParser
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    body = encode_multipart(BOUNDARY, {"attachments": [upload(n, d) for n, d in parts]})
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    handlers = [AttachmentLimitHandler(), MemoryFileUploadHandler(), TemporaryFileUploadHandler()]
    _, parsed = MultiPartParser(meta, io.BytesIO(body), handlers).parse()
    return parsed.getlist("attachments")


def test_oversized_uploads_are_cut_short_while_they_are_read():
    big = PDF + b"0" * (MAX_BYTES + 1_000_000)
    got = _parse([("big.pdf", big), ("a.pdf", PDF), ("b.pdf", PDF), ("c.pdf", PDF), ("d.pdf", PDF)])
    assert [f.size for f in got] == [MAX_BYTES + 1, len(PDF), len(PDF), 0, 0]
    with pytest.raises(ValidationError, match="larger than 5 MB"):
        check_upload(got[0], position=1)
    with pytest.raises(ValidationError, match="at most 3"):
        check_uploads(got)


def test_uploads_within_the_limit_pass_through_whole():
    data = PDF + b"0" * (MAX_BYTES - len(PDF))
    (got,) = _parse([("ok.pdf", data)])
    assert got.size == MAX_BYTES
    got.seek(0)
    assert got.read() == data
