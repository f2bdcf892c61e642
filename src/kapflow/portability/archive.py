"""The archive's format: rows as JSON lines, a tar that is the same bytes for the same
content, and the manifest that vouches for every member.

Layout (a gzip-compressed tar; every member dated 1970, mode 0600, owner 0):
- `manifest.json` first: format, kapflow version, migrations, rows per table, members with
  their SHA-256, the audit trail's head; `created` holds the only values that change from
  one export of the same content to the next (when, from which database engine) and is
  left out of every comparison (`manifest_content`).
- `files/<name>`: stored uploads under their storage names.
- `tables/<db_table>.jsonl`: one object per row, keys sorted, ordered by primary key.

Values are written as each field turns them into text (`value_to_string`) unless JSON holds
them as they are; reading uses the field's `to_python`. Times keep their microseconds (the
audit chain hashes them).
"""

import base64
import datetime as dt
import decimal
import gzip
import hashlib
import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

FORMAT = "kapflow-practice-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VOLATILE = "created"
TABLES = "tables/"
FILES = "files/"
READ_SIZE = 1 << 20


def manifest_content(manifest: dict) -> dict:
    """The manifest without what changes between two exports of the same content."""
    return {key: value for key, value in manifest.items() if key != VOLATILE}


_AS_IS = frozenset({type(None), bool, int, float, str, list, dict})


def encode_value(field, obj):
    value = getattr(obj, field.attname)
    if type(value) in _AS_IS or isinstance(value, bool | int | float | str | list | dict):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return field.value_to_string(obj)


def encode_row(fields, obj) -> bytes:
    row = {field.attname: encode_value(field, obj) for field in fields}
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def decode_values(fields, line: bytes) -> dict:
    """{attname: Python value} of one row, through each field's to_python."""
    data = json.loads(line)
    values = {}
    for field in fields:
        value = data[field.attname]
        values[field.attname] = None if value is None else field.to_python(value)
    return values


class Hashing:
    """A file written while its SHA-256 and size are kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha = hashlib.sha256()
        self.size = 0
        self._file = open(path, "wb")  # noqa: SIM115 (closed in close())

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self._file.write(data)

    def close(self) -> dict:
        self._file.close()
        return {"sha256": self.sha.hexdigest(), "bytes": self.size}


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o600
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(out: Path, manifest: dict, members: dict[str, Path]) -> str:
    """Write the tar (manifest first, then members by name); returns its SHA-256. The file
    is created readable by its owner only: it holds every record in the clear."""
    body = json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=False).encode()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with (
        os.fdopen(fd, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.addfile(_info(MANIFEST, len(body)), io.BytesIO(body))
        for name in sorted(members):
            path = members[name]
            with open(path, "rb") as source:
                tar.addfile(_info(name, path.stat().st_size), source)
    return file_sha256(out)


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(READ_SIZE):
            sha.update(chunk)
    return sha.hexdigest()


class ArchiveError(Exception):
    """The file is not an archive this release can read, or it was changed (the message says
    which member)."""


def read_manifest(path: Path) -> dict:
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise ArchiveError(f"{path.name} does not start with {MANIFEST}.")
            manifest = json.loads(tar.extractfile(first).read())
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{path.name} is not a kapflow practice archive ({exc}).") from exc
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"{path.name} is not a kapflow practice archive.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"{path.name} is format version {manifest.get('format_version')}; this release "
            f"reads version {FORMAT_VERSION}."
        )
    return manifest


def verify_members(path: Path, manifest: dict) -> None:
    """Every member's SHA-256 and size against the manifest; raises ArchiveError naming the
    first member that differs, is missing, or is not listed."""
    listed = manifest["members"]
    seen = set()
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar:
                if info.name == MANIFEST:
                    continue
                if info.name not in listed:
                    raise ArchiveError(f"{info.name} is in the archive but not in its manifest.")
                if not info.isfile():
                    raise ArchiveError(f"{info.name} is not a file.")
                sha = hashlib.sha256()
                source = tar.extractfile(info)
                while chunk := source.read(READ_SIZE):
                    sha.update(chunk)
                if sha.hexdigest() != listed[info.name]["sha256"]:
                    raise ArchiveError(
                        f"{info.name} differs from its SHA-256 in the manifest: the archive "
                        "was changed or damaged."
                    )
                seen.add(info.name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{path.name} cannot be read to the end ({exc}).") from exc
    missing = sorted(set(listed) - seen)
    if missing:
        raise ArchiveError(f"{missing[0]} is in the manifest but not in the archive.")


def members(path: Path) -> Iterator[tuple[str, io.BufferedReader]]:
    """(name, readable) for every member but the manifest, in archive order."""
    with tarfile.open(path, mode="r:gz") as tar:
        for info in tar:
            if info.name != MANIFEST and info.isfile():
                yield info.name, tar.extractfile(info)
