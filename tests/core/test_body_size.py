"""Pages answer an oversized body with a plain 413, and file uploads are not caught by it."""

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import sign_in

TEN_MB = 10 * 1024 * 1024


def test_a_ten_megabyte_form_post_to_a_page_is_a_plain_413(client, world):
    sign_in(client, world.admin.user)
    response = client.post(
        "/clients/new/",
        "legal_first_name=" + "x" * TEN_MB,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "too large" in response.content.decode().lower()


def test_an_oversized_form_before_sign_in_is_413_too(client, db):
    response = client.post(
        "/sign-in/", "username=" + "x" * TEN_MB, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413


def test_a_file_upload_over_the_form_limit_is_left_to_the_form(client, db):
    upload = SimpleUploadedFile("scan.pdf", b"%PDF-" + b"0" * (3 * 1024 * 1024))
    response = client.post("/sign-in/", {"username": "a@example.test", "file": upload})
    assert response.status_code == 200


def test_a_multipart_form_with_an_oversized_text_field_is_413(client, world):
    sign_in(client, world.admin.user)
    response = client.post("/clients/new/", {"legal_first_name": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
