"""The fast path of the bank and post parsers (well-formed lines checked column-wise, a block at a
time) gives exactly what the per-line path gives: the same records with the same line numbers,
source lines and problems, the same file errors, counts and sums — on the samples, on mutated
samples (hypothesis) and on larger files read in tiny blocks so that block boundaries fall
everywhere. :func:`iter_line_blocks` gives exactly the lines of :func:`iter_lines`."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.formats import bank, post
from connectors.formats.columnar import ArrowRows
from connectors.formats.common import Period, iter_line_blocks, iter_lines
from tests.ingest.helpers import BANK, POST, TODAY
from tests.robustness.test_fuzz import CENTER_INN, mutated, sample

FUZZ = settings(database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def _outcome(kind: str, data: bytes, *, fast: bool, block: int, arrow: bool = True) -> dict[str, Any]:
    parsed: Any = (
        bank.parse(data, BANK, today=TODAY)
        if kind == "bank"
        else post.parse(data, POST, center_inn=CENTER_INN)
    )
    parsed.fast_path = fast
    parsed.block_bytes = block
    parsed.arrow = arrow  # plain blocks through pyarrow (True) or the Python fast path
    records = [(r, r.line_no, r.raw, r.errors, r.warnings) for r in parsed]
    out = {
        "records": records,
        "file_errors": parsed.file_errors,
        "line_errors": parsed.line_errors,
        "counts": (parsed.record_count, parsed.rejected_count, parsed.total_kop, parsed.accepted_kop),
    }
    if kind == "bank":
        out["bank"] = (parsed.control, parsed.sums, parsed.sender)
    else:
        out["post"] = (parsed.header, parsed.batch_count, parsed.payment_count)
    return out


def _same(kind: str, data: bytes, block: int = 1 << 18) -> dict[str, Any]:
    slow = _outcome(kind, data, fast=False, block=block)
    fast = _outcome(kind, data, fast=True, block=block)
    assert fast == slow
    assert _outcome(kind, data, fast=True, block=block, arrow=False) == slow
    return fast


def _fast_share(kind: str, data: bytes, block: int = 1 << 18, *, arrow_only: bool = False) -> float:
    """The share of lines that arrive as fast rows (only Arrow ones with ``arrow_only``)."""
    parsed: Any = (
        bank.parse(data, BANK, today=TODAY)
        if kind == "bank"
        else post.parse(data, POST, center_inn=CENTER_INN)
    )
    parsed.block_bytes = block
    chunks = list(parsed.chunks())
    fast = sum(
        len(c.fast)
        for c in chunks
        if c.fast is not None and (isinstance(c.fast, ArrowRows) or not arrow_only)
    )
    return fast / max(1, fast + sum(len(c.slow) for c in chunks))


def _bank_file(n: int, bad_every: int = 7) -> bytes:
    lines = []
    total = 0
    for i in range(n):
        amount = 10_000 + i * 37
        commission = amount // 100
        account = "9999999999" if i % bad_every == 3 else f"31{i:08d}"
        period = Period(2019, 1) if i % bad_every == 5 else Period(2025, 2)
        op_id = f"B{i:015d}" if i % 50 != 49 else f"B{i - 1:015d}"  # a repeated СУИП now and then
        amount_s = bank.format_money(amount) if i % bad_every != 6 else "12,345"
        lines.append(
            f"14-03-2025;{8 + i % 12:02d}-{i % 60:02d}-00;8606/{i % 60:05d};SBOL;{op_id};{account};"
            f"ИВАНОВ ИВАН;г Рязань, ул Ленина, д 5;{period.mmyy};{amount_s};"
            f"{bank.format_money(amount - commission)};{bank.format_money(commission)}"
        )
        if i % 97 == 13:
            lines[-1] = lines[-1].replace(";SBOL;", ";SBOL;").replace(";ИВАНОВ ИВАН;", ";ИВАНОВ ИВАН;")
            parts = lines[-1].split(";")
            lines[-1] = ";".join([*parts[:8], "ХВС-123:45,5", *parts[8:]])  # an extra field
        total += amount
    lines.append(f"={n};{bank.format_money(total)};0,00;0,00;777;14-03-2025;")
    return ("\r\n".join(lines) + "\r\n").encode("cp1251")


def _post_file(n: int, per_batch: int = 40, *, repeats: bool = True) -> bytes:
    day = dt.date(2025, 3, 14)
    batches = []
    for b, start in enumerate(range(0, n, per_batch), start=1):
        batch = post.PostBatch(f"{390000 + b:06d}", day, b)
        payments = [
            post.PostPayment(
                batch,
                day,
                "001",
                "02" if i % 11 == 0 else "01",
                "9999" if i % 13 == 0 else f"31{i:08d}",
                Period(2019, 1) if i % 17 == 0 else Period(2025, 2),
                "ИВАНОВ И И",
                "ЛЕНИНА УЛ",
                "5",
                "12",
                start + 1 if repeats and i % 97 == 5 else i + 1,  # NUM_1 repeats in a batch now and then
                123 if i % 23 == 0 else None,
                1_000 + i,
            )
            for i in range(start, min(n, start + per_batch))
        ]
        batches.append((batch, payments))
    header = post.PostHeader("390000", day, 1, CENTER_INN, "40702810900000001234")
    buf = io.BytesIO()
    post.write(buf, header, batches)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["bank", "post"])
def test_samples_same_both_ways(kind: str) -> None:
    out = _same(kind, sample(kind))
    assert out["records"] and not out["file_errors"]


@pytest.mark.parametrize("block", [1, 97, 4096, 1 << 18])
def test_bank_large_file_any_block_size(block: int) -> None:
    out = _same("bank", _bank_file(600), block)
    assert _fast_share("bank", _bank_file(600), block) > 0.5
    assert out["counts"][0] == 600 and out["counts"][1] > 100  # line errors on both paths
    assert out["file_errors"]  # repeated СУИП and a control line that does not add up


@pytest.mark.parametrize("block", [1, 173, 5000, 1 << 18])
def test_post_large_file_any_block_size(block: int) -> None:
    out = _same("post", _post_file(600), block)
    assert _fast_share("post", _post_file(600), block) > 0.3
    assert out["counts"][0] == 600 and out["counts"][1] > 30


@pytest.mark.parametrize("block", [20_000, 1 << 18])
def test_post_long_batches_through_arrow(block: int) -> None:
    """Batches of hundreds of records go the Arrow way; the outcome is the per-record one."""
    out = _same("post", _post_file(1_500, per_batch=300), block)
    assert out["counts"][0] == 1_500 and out["counts"][1] > 100
    assert _fast_share("post", _post_file(1_500, per_batch=300, repeats=False), block, arrow_only=True) > 0.5
    assert (
        _fast_share("post", _post_file(1_500, per_batch=10, repeats=False), block, arrow_only=True) == 0
    )  # short batches


def test_bank_blocks_through_arrow() -> None:
    """Blocks of payment lines only (no control line, no extra fields) go the Arrow way."""
    assert _fast_share("bank", _bank_file(600), 4096, arrow_only=True) > 0.3
    nbsp = _bank_file(600).replace("Ленина".encode("cp1251"), b"\xa0")  # whitespace beyond the space
    assert _fast_share("bank", nbsp, 4096, arrow_only=True) == 0
    _same("bank", nbsp, 4096)


@FUZZ
@given(data=mutated(_post_file(150, per_batch=75, repeats=False), "cp866"))
def test_fuzz_post_long_batches_same_both_ways(data: bytes) -> None:
    _same("post", data, 1 << 18)


@FUZZ
@given(data=mutated(_bank_file(120), "cp1251"), block=st.sampled_from([300, 1 << 18]))
def test_fuzz_bank_file_same_both_ways(data: bytes, block: int) -> None:
    _same("bank", data, block)


@pytest.mark.parametrize("arrow", [True, False])
def test_bank_sender_from_first_line_before_later_problems(arrow: bool) -> None:
    """The default sender comes from the first payment line even when a line after it in the same
    run has a problem (the Python fast path once took it from that line; found by the fuzz test)."""
    data = _bank_file(20).replace(b";8606/00000;", b"; 606/00000;", 1)
    assert _outcome("bank", data, fast=False, block=1 << 18)["bank"][2] == "BANK: 606"
    assert _outcome("bank", data, fast=True, block=1 << 18, arrow=arrow)["bank"][2] == "BANK: 606"


def test_fast_rows_really_taken() -> None:
    """The fast path is used: most lines of a clean file arrive as fast rows, not records."""
    assert _fast_share("bank", _bank_file(300, bad_every=1_000_000)) >= 0.95


@FUZZ
@given(data=mutated(sample("bank"), "cp1251"), block=st.sampled_from([7, 300, 1 << 18]))
def test_fuzz_bank_same_both_ways(data: bytes, block: int) -> None:
    _same("bank", data, block)


@FUZZ
@given(data=mutated(sample("post"), "cp866"), block=st.sampled_from([7, 400, 1 << 18]))
def test_fuzz_post_same_both_ways(data: bytes, block: int) -> None:
    _same("post", data, block)


@FUZZ
@given(
    data=st.lists(st.sampled_from([b"a", b"bb", b"\r", b"\n", b"\r\n", b"x" * 9, b""]), max_size=30).map(
        b"".join
    ),
    max_line=st.integers(1, 12),
    block=st.integers(1, 20),
)
def test_iter_line_blocks_same_as_iter_lines(data: bytes, max_line: int, block: int) -> None:
    want = list(iter_lines(io.BytesIO(data), max_line=max_line))
    got = [x for b in iter_line_blocks(io.BytesIO(data), max_line=max_line, block_bytes=block) for x in b]
    assert got == want
