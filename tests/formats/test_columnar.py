"""The fixed-width helpers of ``connectors.formats.columnar`` (the post registry's Arrow form): text
fields decoded and right-trimmed as Python's codec and ``str.rstrip`` would, numbers from digits
only, few-valued fields converted once per distinct value."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.formats.columnar import fixed_digits, fixed_distinct, fixed_fields

# every character cp866 can encode but the line feed (a plain block has none inside a line)
CP866 = "".join(c for c in bytes(range(256)).decode("cp866") if c != "\n")
WIDTH = 24


def _cells(rows: list[str]) -> np.ndarray:
    data = "".join(r.ljust(WIDTH) for r in rows).encode("cp866")
    return np.frombuffer(data, np.uint8).reshape(len(rows), WIDTH)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.text(alphabet=CP866, max_size=WIDTH), min_size=1, max_size=30))
def test_fixed_fields_match_the_codec_and_rstrip(rows: list[str]) -> None:
    cells = _cells(rows)
    spans = [(0, 5), (5, 6), (6, 20), (20, WIDTH)]
    got = [col.to_pylist() for col in fixed_fields(cells, "cp866", spans)]
    padded = [r.ljust(WIDTH) for r in rows]
    assert got == [[r[a:b].rstrip(" ") for r in padded] for a, b in spans]


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.sampled_from(list(b"0123456789 -.a\xd9\xa3")), min_size=6, max_size=6).map(bytes),
        min_size=1,
        max_size=30,
    )
)
def test_fixed_digits_take_ascii_digits_only(rows: list[bytes]) -> None:
    values, ok = fixed_digits(np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), 6))
    assert ok.tolist() == [r.isdigit() for r in rows]  # bytes.isdigit: ASCII digits only
    taken = [int(v) for v, good in zip(values, ok, strict=True) if good]
    assert taken == [int(r) for r in rows if r.isdigit()]


def test_fixed_distinct_converts_each_value_once() -> None:
    cells = _cells(["202611", "202611", "2026AB", "202611", "202610"])[:, :6]
    calls: list[str] = []
    cache: dict[str, object] = {"202610": "cached"}

    def convert(s: str) -> object:
        calls.append(s)
        return None if not s.isdigit() else int(s)

    values, where = fixed_distinct(cells, "cp866", cache, convert)
    assert [values[i] for i in where] == [202611, 202611, None, 202611, "cached"]
    assert sorted(calls) == sorted(["2026AB", "202611"])
    values, where = fixed_distinct(cells, "cp866", cache, convert)
    assert len(calls) == 2  # the cache lives as long as the file
