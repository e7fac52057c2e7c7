"""Issue 12, classes 3 and 12: a bad input file gives one message and exit 2, never its data.

Every command that reads a table (``scan``, ``mask``, ``gate``, ``init``, ``run``) is run on a
corpus of bad files built here, each holding planted personal values (names, e-mail addresses,
phone numbers). For every cell: exit status 2, exactly one ``error:`` line naming the fault, no
traceback, no planted value (nor any 6-character piece of one) in stdout or stderr, nothing
written beside the input, and the input byte-identical. A control row (the same data, well
formed) must pass, so the harness itself can fail. The matrix runs in-process through
``auditkit.cli.main``; one subprocess per command checks the real entry point.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditkit.cli import main
from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.tabular import TableFile

HEADER = ["name", "email", "phone", "sex", "label", "pred"]
PEOPLE = [
    ["Marguerite Okonkwo", "marguerite.okonkwo@example.org", "+44 20 7946 0958"],
    ["Bartholomew Quayle", "b.quayle@example.net", "+1 202 555 0143"],
    ["Renée Lefèvre", "renee.lefevre@example.fr", "+33 1 23 45 67 89"],
    ["Zebedee Farquharson", "zebedee.farquharson@example.com", "+44 161 496 0000"],
]
PLANTED = [v for person in PEOPLE for v in person]


def _rows(n: int = 40) -> list[list[str]]:
    return [[*PEOPLE[i % 4], "FM"[i % 2], str(i % 2), str((i // 2) % 2)] for i in range(n)]


def _csv(rows: list[list[str]], header: list[str] = HEADER) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue()


def _parquet(columns: dict[str, list]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def _flat_columns(n: int = 40) -> dict[str, list]:
    rows = _rows(n)
    return {h: [r[i] if i < 4 else int(r[i]) for r in rows] for i, h in enumerate(HEADER)}


def _damaged_parquet() -> bytes:
    """A Parquet file whose footer is intact and whose 'email' column chunk is overwritten."""
    import pyarrow.parquet as pq

    data = bytearray(_parquet(_flat_columns()))
    chunk = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0).column(1)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start:start + 12] = b"\xff" * 12
    return bytes(data)


def _ragged(extra: bool) -> bytes:
    lines = _csv(_rows(6)).splitlines(keepends=True)
    row = lines[2].rstrip("\n")
    lines[2] = (row + ",surplus\n") if extra else ",".join(row.split(",")[:2]) + "\n"
    return "".join(lines).encode()


def _unbalanced_quote() -> bytes:
    lines = _csv(_rows(6)).splitlines(keepends=True)
    lines[3] = '"' + lines[3]  # a quote opened on line 4 and never closed
    return "".join(lines).encode()


def _latin1(late: bool) -> bytes:
    """Latin-1 bytes of "Renée Lefèvre" on line 4, or on line 1,501 (past the first 64 KiB)."""
    if not late:
        return _csv(_rows(6)).encode("latin-1")
    ascii_rows = [r for r in _rows(2_000) if r[0] != PEOPLE[2][0]][:1_499]
    return _csv([*ascii_rows, _rows(3)[2]]).encode("latin-1")


# case id -> (file name, bytes, a phrase the one error line must contain)
CASES: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "latin1": ("people.csv", lambda: _latin1(False), "is not UTF-8 text: line 4"),
    "latin1-after-64KiB": ("people.csv", lambda: _latin1(True), "is not UTF-8 text: line 1501"),
    "utf16": ("people.csv", lambda: _csv(_rows(6)).encode("utf-16"), "is UTF-16 text"),
    "random-bytes": ("people.csv", lambda: random.Random(12).randbytes(3_000), "binary data"),
    "png": ("people.csv", lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + _csv(_rows(6)).encode(),
            "it is a PNG image"),
    "gzip": ("people.csv", lambda: gzip.compress(_csv(_rows(6)).encode()), "it is a gzip archive"),
    "ragged-long": ("people.csv", lambda: _ragged(True),
                    "line 3 (data row 2) has 7 fields where the header has 6"),
    "ragged-short": ("people.csv", lambda: _ragged(False),
                     "line 3 (data row 2) has 2 fields where the header has 6"),
    "unbalanced-quote": ("people.csv", _unbalanced_quote,
                         "a double quote opened on line 4 is never closed"),
    "duplicate-header": ("people.csv",
                         lambda: _csv(_rows(6), ["name", "email", "name", "sex", "label", "pred"]
                                      ).encode(), "duplicate column names: 'name' (columns 1 and 3)"),
    "empty": ("people.csv", lambda: b"", "is empty"),
    "blank-lines-only": ("people.csv", lambda: b"\n\r\n  \n", "is empty"),
    "header-only": ("people.csv", lambda: (",".join(HEADER) + "\n").encode(),
                    "has no rows: it holds a header of 6 columns"),
    "garbage-parquet": ("people.parquet", lambda: random.Random(7).randbytes(3_000),
                        "is not a Parquet file"),
    "csv-named-parquet": ("people.parquet", lambda: _csv(_rows(6)).encode(), "is not a Parquet file"),
    "truncated-parquet": ("people.parquet", lambda: _parquet(_flat_columns())[:900], "is truncated"),
    "damaged-parquet": ("people.parquet", _damaged_parquet,
                        "column 'email' (column 2) in row group 1 of 1 cannot be decoded"),
    "nested-list": ("people.parquet",
                    lambda: _parquet({**_flat_columns(4), "contacts": [[e] for e in
                                                                      [p[1] for p in PEOPLE]]}),
                    "nested columns: 'contacts' (column 7, list)"),
    "nested-struct": ("people.parquet",
                      lambda: _parquet({**_flat_columns(4), "contact": [
                          {"email": p[1], "phone": p[2]} for p in PEOPLE]}),
                      "nested columns: 'contact' (column 7, struct)"),
    "header-only-parquet": ("people.parquet",
                            lambda: _parquet({k: v[:0] for k, v in _flat_columns().items()}),
                            "has no rows"),
}
GOOD: dict[str, tuple[str, Callable[[], bytes]]] = {
    "csv": ("people.csv", lambda: _csv(_rows()).encode()),
    "parquet": ("people.parquet", lambda: _parquet(_flat_columns())),
}
COMMANDS = ("scan", "mask", "gate", "init", "run")


def _setup(d: Path, name: str, data: bytes) -> Path:
    """The input and everything a command needs, all in one directory."""
    src = d / name
    src.write_bytes(data)
    (d / "policy.toml").write_text('[columns.name]\noperator = "redact"\n', encoding="utf-8")
    (d / "gate.toml").write_text(
        '[tool.auditkit.fairness]\nthresholds = ["demographic_parity_ratio >= 0.8"]\n',
        encoding="utf-8")
    (d / "audit.toml").write_text(
        f'[audit]\ntitle = "bad file"\n[data]\npath = "{name}"\nlabel = "label"\n'
        'prediction = "pred"\nprotected = ["sex"]\npersonal = ["name", "email", "phone"]\n'
        '[report]\nout = "out"\nformats = ["json"]\n', encoding="utf-8")
    return src


def _argv(command: str, src: Path) -> list[str]:
    d = src.parent
    return {
        "scan": ["scan", str(src)],
        "mask": ["mask", str(src), str(d / f"masked{src.suffix}"), "--policy",
                 str(d / "policy.toml"), "--no-progress"],
        "gate": ["gate", str(src), "--label", "label", "--pred", "pred", "--sensitive", "sex",
                 "--config", str(d / "gate.toml"), "--json", str(d / "verdicts.json")],
        "init": ["init", str(src), "--out", str(d / "init.toml")],
        "run": ["run", str(d / "audit.toml"), "-q"],
    }[command]


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(d.rglob("*"))}


def _assert_no_planted_value(text: str) -> None:
    folded = text.casefold()
    for value in PLANTED:
        for i in range(max(1, len(value) - 5)):
            piece = value[i:i + 6].casefold()
            assert piece not in folded, f"a piece of a planted value ({piece!r}) was printed"


def _one_clean_error(code: int, out: str, err: str, phrase: str) -> None:
    both = out + err
    assert code == 2, both
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, both
    assert phrase in errors[0], errors[0]
    assert "Traceback" not in both and "internal error" not in both
    _assert_no_planted_value(both)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_gives_one_message_and_exit_2(case, command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name, build, phrase = CASES[case]
    src = _setup(tmp_path, name, build())
    before = _snapshot(tmp_path)
    code = main(_argv(command, src))
    captured = capsys.readouterr()
    _one_clean_error(code, captured.out, captured.err, phrase)
    assert _snapshot(tmp_path) == before  # nothing written, input byte-identical


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", list(GOOD))
def test_control_well_formed_file_is_accepted(kind, command, tmp_path, capsys, monkeypatch):
    """The same harness on a well-formed file: the command runs (so the matrix can fail)."""
    monkeypatch.chdir(tmp_path)
    name, build = GOOD[kind]
    src = _setup(tmp_path, name, build())
    code = main(_argv(command, src))
    captured = capsys.readouterr()
    assert code != 2, captured.out + captured.err  # 1 is a failed threshold, not a bad file
    assert "error:" not in captured.err


@pytest.mark.parametrize(("command", "case"), [
    ("scan", "ragged-long"), ("mask", "latin1"), ("gate", "nested-list"),
    ("init", "gzip"), ("run", "unbalanced-quote"),
])
def test_real_entry_point_prints_one_line_and_exits_2(cli, command, case, tmp_path):
    name, build, phrase = CASES[case]
    src = _setup(tmp_path, name, build())
    before = _snapshot(tmp_path)
    proc = cli(*_argv(command, src), cwd=tmp_path)
    _one_clean_error(proc.returncode, proc.stdout, proc.stderr, phrase)
    assert _snapshot(tmp_path) == before


def test_mask_fault_after_the_first_block_leaves_nothing(tmp_path, capsys, monkeypatch):
    """A ragged row beyond the rows the policy's scan reads (20,000) and beyond Arrow's first
    block: chunks were already masked and written to the temporary file when the parser fails;
    the error still names the line, and the temporary file is gone."""
    monkeypatch.chdir(tmp_path)
    rows = _rows(60_000)
    text = _csv(rows)
    text += "Marguerite Okonkwo,marguerite.okonkwo@example.org,+44 20 7946 0958,F,1,1,extra\n"
    assert len(text.encode()) > 3 << 20
    src = _setup(tmp_path, "people.csv", text.encode())
    before = _snapshot(tmp_path)
    argv = _argv("mask", src)
    argv[argv.index("--no-progress")] = "--progress"
    code = main([*argv, "--chunk-rows", "1000"])
    captured = capsys.readouterr()
    assert "masked 1,000 rows" in captured.err  # chunks were written before the fault
    _one_clean_error(code, captured.out, captured.err,
                     f"line {len(rows) + 2} (data row {len(rows) + 1}) has 7 fields")
    assert _snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------
# The rewriting itself, property-based: wherever the fault is, the message names its line
# and quotes nothing.

# Planted e-mail-like values; cells with commas and quotes are quoted by csv.writer.
_WORD = st.text(alphabet=st.sampled_from('abcdefghijklmnopqrstuvwxyz XYZ0123456789.+,"-'),
                min_size=1, max_size=12)
_VALUE = st.builds(lambda a, b: f"{a}@{b}", _WORD, _WORD)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(_VALUE, min_size=3, max_size=3), min_size=1, max_size=30),
       data=st.data())
def test_ragged_row_is_located_and_never_quoted(tmp_path_factory, rows, data):
    bad = data.draw(st.integers(0, len(rows) - 1), label="bad row")
    extra = data.draw(st.booleans(), label="extra field")
    lines = _csv(rows, ["a", "b", "c"]).splitlines(keepends=True)
    cells = next(csv.reader([lines[bad + 1]]))
    cells = [*cells, "surplus value"] if extra else cells[:2]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    lines[bad + 1] = buf.getvalue()
    path = tmp_path_factory.mktemp("ragged") / "t.csv"
    path.write_text("".join(lines), encoding="utf-8")
    table = TableFile(path, "csv")
    with pytest.raises(PrivacyInputError) as err:
        list(table.batches())
    msg = str(err.value)
    assert f"line {bad + 2} (data row {bad + 1}) has {len(cells)} field" in msg
    for value in (v for row in rows for v in row):
        assert value not in msg


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(_VALUE, min_size=2, max_size=2), min_size=1, max_size=3_000),
       data=st.data())
def test_non_utf8_byte_is_located_and_never_quoted(tmp_path_factory, rows, data):
    bad = data.draw(st.integers(0, len(rows) - 1), label="bad row")
    lines = [line.encode() for line in _csv(rows, ["a", "b"]).splitlines(keepends=True)]
    lines[bad + 1] = lines[bad + 1].replace(b"\n", b"\xe9\n")  # a Latin-1 "é" at the row's end
    path = tmp_path_factory.mktemp("latin1") / "t.csv"
    path.write_bytes(b"".join(lines))
    with pytest.raises(PrivacyInputError) as err:
        list(TableFile(path, "csv").batches())
    msg = str(err.value)
    assert f"is not UTF-8 text: line {bad + 2} " in msg
    offset = sum(len(line) for line in lines[: bad + 2]) - 2
    assert f"(byte offset {offset:,})" in msg
    for value in (v for row in rows for v in row):
        assert value not in msg
