"""Partner file formats of the hub (the contract is ``shared/formats/README.md``).

One module per format, each able to parse (streaming, typed records), validate and write:

* :mod:`.bank` — bank payment registry (cp1251, ``;``), inbound;
* :mod:`.post` — post office fixed-width registry (cp866, 172-char records), inbound;
* :mod:`.szn` — social protection beneficiaries XML (inbound) and charges XML reply (outbound);
* :mod:`.legacy_dbf` — legacy billing DBF set in a zip (migration), plus a writer;
* :mod:`.transfers` — provider transfer registry, outbound;
* :mod:`.debts` — debts file for banks, outbound, with :class:`~.debts.BankProfile`;
* :mod:`.protocol` — error codes (:class:`~.protocol.ErrorCode`) and the ``.err.txt`` protocol;
* :mod:`.common` — money/date parsing, the problem model and :class:`~.common.ParsedFile`.

:func:`sniff` tells which format a file is; :func:`parser_for` returns the matching ``parse``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any

from .common import (
    FileError,
    LineError,
    ParsedFile,
    Period,
    Problem,
    Source,
    SourceKind,
    open_source,
    source_name,
)
from .protocol import ErrorCode, ErrorKind

__all__ = [
    "sniff",
    "sniff_name",
    "sniff_content",
    "parser_for",
    "parse_any",
    "validate",
    "SourceKind",
    "ErrorCode",
    "ErrorKind",
    "Problem",
    "FileError",
    "LineError",
    "ParsedFile",
    "Period",
]

SNIFF_BYTES = 4096

_NAME_PATTERNS = [
    (re.compile(r"POST_\d{6}_\d{8}_\d{3}\.txt", re.I), SourceKind.POST),
    (re.compile(r"SZN_BEN_\w+_\d{6}_\d{3}\.xml", re.I), SourceKind.SZN),
    (re.compile(r"SZN_CHG_\w+_\d{6}_\d{3}\.xml", re.I), SourceKind.SZN_CHARGES),
    (re.compile(r"LEGACY_\w+_\d{6}\.zip", re.I), SourceKind.LEGACY),
    (re.compile(r"TRANSF_\d{10,12}_\d{8}_\d{3}\.txt", re.I), SourceKind.TRANSFER),
    (re.compile(r"\d{10,12}_\d{20}_\d{8}_\d{3}\.txt", re.I), SourceKind.BANK),
    (re.compile(r"\d{10,12}_\d{20}_\d{3}_\d{4}\.txt", re.I), SourceKind.DEBTS),
]
_BANK_LINE = re.compile(rb"\d{2}-\d{2}-\d{4};\d{2}-\d{2}-\d{2};")
_XML_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(BeneficiaryList|ChargeReport)[\s>/]")


def sniff_name(file_name: str) -> SourceKind:
    """Kind of a file judged by its name alone (the spec's naming patterns)."""
    base = os.path.basename(file_name)
    for rx, kind in _NAME_PATTERNS:
        if rx.fullmatch(base):
            return kind
    return SourceKind.UNKNOWN


def sniff_content(head: bytes, stream: Any = None) -> SourceKind:
    """Kind of a file judged by its first bytes (``stream`` lets zips be listed)."""
    if head.startswith(b"PK\x03\x04"):
        if stream is None:
            return SourceKind.UNKNOWN
        try:
            stream.seek(0)
            with zipfile.ZipFile(stream) as zf:
                names = {os.path.basename(n.replace("\\", "/")).upper() for n in zf.namelist()}
        except (zipfile.BadZipFile, OSError, ValueError):
            return SourceKind.UNKNOWN
        return SourceKind.LEGACY if "KART.DBF" in names else SourceKind.UNKNOWN
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        m = _XML_ROOT.search(text)
        if m:
            return SourceKind.SZN if m.group(1) == b"BeneficiaryList" else SourceKind.SZN_CHARGES
        return SourceKind.UNKNOWN
    if text.startswith(b"#PROVIDER "):
        return SourceKind.TRANSFER
    if text.startswith(b"#FILESUM"):
        return SourceKind.DEBTS
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    if first.startswith(b"H") and len(first) == 172:
        return SourceKind.POST
    if _BANK_LINE.match(first) or first.startswith(b"="):
        return SourceKind.BANK
    return SourceKind.UNKNOWN


def sniff(source: Source, file_name: str | None = None) -> SourceKind:
    """Recognize the format of a file (path, bytes or binary stream).

    Content decides (first 4 KiB, zip member names); the name (spec naming patterns) is used
    when the content is not recognizable, e.g. a debts file in a headerless bank profile.
    """
    name = source_name(source, file_name)
    with open_source(source) as stream:
        pos = stream.tell()
        head = stream.read(SNIFF_BYTES)
        kind = sniff_content(head, stream)
        stream.seek(pos)
    return kind if kind is not SourceKind.UNKNOWN else sniff_name(name)


def parser_for(kind: SourceKind) -> Callable[..., ParsedFile[Any]]:
    """The ``parse`` function of a format."""
    from . import bank, debts, legacy_dbf, post, szn, transfers

    table: dict[SourceKind, Callable[..., ParsedFile[Any]]] = {
        SourceKind.BANK: bank.parse,
        SourceKind.POST: post.parse,
        SourceKind.SZN: szn.parse,
        SourceKind.SZN_CHARGES: szn.parse_charges,
        SourceKind.LEGACY: legacy_dbf.parse,
        SourceKind.TRANSFER: transfers.parse,
        SourceKind.DEBTS: debts.parse,
    }
    if kind not in table:
        raise ValueError(f"no parser for {kind}")
    return table[kind]


def parse_any(source: Source, file_name: str | None = None, **options: Any) -> ParsedFile[Any]:
    """Sniff and parse. A non-seekable stream is spooled to a temporary file first."""
    if not isinstance(source, str | os.PathLike | bytes | bytearray | memoryview) and not source.seekable():
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
        shutil.copyfileobj(source, spool)
        spool.seek(0)
        source = spool
    kind = sniff(source, file_name)
    if kind is SourceKind.UNKNOWN:
        raise ValueError(f"unknown file format: {source_name(source, file_name)}")
    return parser_for(kind)(source, file_name, **options)


def validate(source: Source, file_name: str | None = None, **options: Any) -> ParsedFile[Any]:
    """Sniff, parse and read the whole file without keeping records; returns the finished
    result (``file_errors``, ``line_errors``, ``warnings``, counts and sums)."""
    return parse_any(source, file_name, **options).consume()
