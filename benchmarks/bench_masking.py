"""PII scan + mask throughput: auditkit vs a per-cell ``re`` loop vs Presidio; bounded memory.

One run, one process (the big-file run is a child process so its peak memory is its own):

1. Generate ``--rows`` rows (default 1,000,000) with 6 personal columns (name, email, phone,
   US SSN, card number, IPv4) and 2 other columns.
2. auditkit: ``scan`` (inventory from a 20,000-row sample) + ``mask`` with a policy built from
   the inventory (whole-column operators), timed on every row.
3. auditkit, per cell: the same 6 columns treated as free text, every cell searched for entity
   spans (pattern + validator) and each span replaced: the like-for-like comparison with the
   per-cell tools; on ``--naive-rows`` rows, scaled.
4. Naive loop: for every cell, each of 6 Python ``re`` patterns substituted in turn (no
   validation); on ``--naive-rows`` rows, scaled.
5. Presidio: ``AnalyzerEngine`` with its predefined pattern recognisers and a blank spaCy
   pipeline as NLP engine (no spaCy model can be downloaded here), then ``AnonymizerEngine``
   (replace with the entity type), per cell; on ``--presidio-rows`` rows, scaled.
6. Bounded memory: a CSV of ``--csv-gb`` GB is written and masked by ``auditkit mask`` logic in
   chunks of ``--chunk-rows`` rows in a child process; its peak RSS is reported.

Run: ``python benchmarks/bench_masking.py [--rows N] [--csv-gb G] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]

FIRST = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Zoë "
         "Ángel Søren Chloé Jürgen Siobhán Nuño").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Brontë "
        "Ångström Nguyen Kowalski Øster Müller O'Brien").split()
PERSONAL = ["name", "email", "phone", "ssn", "card", "ip"]


def _luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Check digits for rows of 15 digits (vectorised Luhn)."""
    d = body.copy()
    # Positions from the right of the final 16-digit number: the body's last digit is doubled.
    dbl = d[:, ::-1][:, ::2] * 2
    dbl = np.where(dbl > 9, dbl - 9, dbl)
    total = dbl.sum(axis=1) + d[:, ::-1][:, 1::2].sum(axis=1)
    return (10 - total % 10) % 10


def generate(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = pd.Series(np.array(FIRST)[rng.integers(0, len(FIRST), n)], dtype="str")
    last = pd.Series(np.array(LAST)[rng.integers(0, len(LAST), n)], dtype="str")
    idx = pd.Series(np.arange(n).astype(str), dtype="str")

    def num(lo: int, hi: int, width: int) -> pd.Series:
        return pd.Series(rng.integers(lo, hi, n).astype(str), dtype="str").str.zfill(width)

    area = pd.Series(rng.choice([212, 213, 305, 312, 415, 617, 718, 206], n).astype(str),
                     dtype="str")
    ssn_area = rng.integers(1, 900, n)
    ssn_area[ssn_area == 666] = 667
    body = np.column_stack([rng.integers(4, 5, n)] + [rng.integers(0, 10, n) for _ in range(14)])
    check = _luhn_check_digits(body)
    digits = np.column_stack([body, check]).astype(np.uint8) + ord("0")
    cards = pd.Series(digits.view(f"S{digits.shape[1]}").ravel().astype(str), dtype="str")
    cards = cards.str.slice(0, 4) + " " + cards.str.slice(4, 8) + " " + cards.str.slice(8, 12) \
        + " " + cards.str.slice(12, 16)
    return pd.DataFrame({
        "name": first + " " + last,
        "email": first.str.lower() + "." + last.str.lower() + idx + "@example.org",
        "phone": "(" + area + ") " + num(200, 999, 3) + "-" + num(0, 10_000, 4),
        "ssn": pd.Series(ssn_area.astype(str), dtype="str").str.zfill(3) + "-"
        + num(1, 100, 2) + "-" + num(1, 10_000, 4),
        "card": cards,
        "ip": num(1, 224, 1) + "." + num(0, 256, 1) + "." + num(0, 256, 1) + "."
        + num(1, 255, 1),
        "amount": rng.normal(100, 30, n).round(2),
        "segment": pd.Series(rng.choice(["retail", "sme", "corporate"], n), dtype="str"),
    })


# -- ours ------------------------------------------------------------------------------------
OPS = {"PERSON": {"operator": "replace"}, "EMAIL_ADDRESS": {"operator": "mask"},
       "PHONE_NUMBER": {"operator": "mask", "keep_last": 2}, "US_SSN": {"operator": "redact"},
       "CREDIT_CARD": {"operator": "mask", "keep_last": 4}, "IP_ADDRESS": {"operator": "replace"}}


def ours_columns(df: pd.DataFrame) -> tuple[float, pd.DataFrame, dict[str, str | None]]:
    from auditkit.privacy.masking import mask, scan

    t = time.perf_counter()
    inv = scan(df)
    policy = {"columns": {c.column: OPS.get(c.entity, {"operator": "replace"})
                          for c in inv if c.personal}}
    res = mask(df, policy, inventory=inv)
    return time.perf_counter() - t, res.frame, {c.column: c.entity for c in inv}


def ours_spans(df: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    from auditkit.privacy.masking import mask

    policy = {"columns": {c: {"operator": "replace", "free_text": True} for c in PERSONAL}}
    t = time.perf_counter()
    res = mask(df, policy)
    return time.perf_counter() - t, res.frame


# -- naive loop ------------------------------------------------------------------------------
NAIVE = [
    ("EMAIL_ADDRESS", re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")),
    ("CREDIT_CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("US_SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("PHONE_NUMBER", re.compile(r"\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}")),
    ("IP_ADDRESS", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
    ("PERSON", re.compile(r"\b[A-Z][a-zà-ÿ']+ [A-Z][\w'-]+\b")),
]


def naive(df: pd.DataFrame) -> tuple[float, list[list[str]]]:
    t = time.perf_counter()
    out = []
    for col in PERSONAL:
        masked = []
        for value in df[col].tolist():
            for tag, rx in NAIVE:
                value = rx.sub(f"<{tag}>", value)
            masked.append(value)
        out.append(masked)
    return time.perf_counter() - t, out


# -- Presidio --------------------------------------------------------------------------------
def presidio_engines():  # pragma: no cover - benchmark only
    import logging
    import types
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    # The email recogniser validates TLDs with tldextract, which would fetch the public suffix
    # list over the network: use the snapshot bundled with tldextract instead.
    import presidio_analyzer.predefined_recognizers.generic.email_recognizer as em
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    em.tldextract = types.SimpleNamespace(extract=tldextract.TLDExtract(suffix_list_urls=()))

    class BlankSpacyNlpEngine(SpacyNlpEngine):
        """Presidio's spaCy engine over ``spacy.blank('en')``: tokens only, no NER model."""

        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "en", "model_name": "blank"}])
            self.nlp = {"en": spacy.blank("en")}

        def load(self) -> None:
            pass

    nlp = BlankSpacyNlpEngine()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
    return analyzer, AnonymizerEngine()


def presidio(df: pd.DataFrame) -> tuple[float, list[list[str]]]:  # pragma: no cover
    analyzer, anonymizer = presidio_engines()
    entities = ["EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IP_ADDRESS", "PERSON"]
    t = time.perf_counter()
    out = []
    for col in PERSONAL:
        masked = []
        for value in df[col].tolist():
            results = analyzer.analyze(text=value, language="en", entities=entities)
            masked.append(anonymizer.anonymize(text=value, analyzer_results=results).text)
        out.append(masked)
    return time.perf_counter() - t, out


# -- bounded memory --------------------------------------------------------------------------
CHILD = r"""
import resource, sys, time, json
from auditkit.privacy.masking import mask_file
t = time.perf_counter()
s = mask_file({src!r}, {dst!r}, {policy!r}, chunk_rows={chunk})
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "rows": s.n_rows, "chunks": s.chunks,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def big_csv(gb: float, chunk_rows: int, workdir: Path) -> dict[str, float]:
    import json

    src = workdir / "bench_masking_big.csv"
    dst = workdir / "bench_masking_big.masked.csv"
    target = int(gb * 1024**3)
    t = time.perf_counter()
    seed = 100
    import pyarrow as pa
    import pyarrow.csv as pacsv

    block = generate(250_000, seed)
    with open(src, "wb") as fh:
        writer = None
        while fh.tell() < target:
            # Rows differ from block to block: reshuffle two columns.
            block["ip"] = block["ip"].sample(frac=1.0, random_state=seed).to_numpy()
            block["email"] = block["email"].sample(frac=1.0, random_state=seed + 1).to_numpy()
            table = pa.Table.from_pandas(block, preserve_index=False)
            if writer is None:
                writer = pacsv.CSVWriter(fh, table.schema)
            writer.write_table(table)
            seed += 1
        writer.close()
    write_s = time.perf_counter() - t
    size = src.stat().st_size
    policy = {"columns": {"name": {"operator": "replace"}, "email": {"operator": "mask"},
                          "phone": {"operator": "mask", "keep_last": 2},
                          "ssn": {"operator": "redact"},
                          "card": {"operator": "mask", "keep_last": 4},
                          "ip": {"operator": "replace"}}}
    code = CHILD.format(repo=str(REPO), src=str(src), dst=str(dst), policy=policy,
                        chunk=chunk_rows)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update({"bytes": size, "write_seconds": write_s})
    src.unlink(missing_ok=True)
    dst.unlink(missing_ok=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--naive-rows", type=int, default=100_000)
    ap.add_argument("--presidio-rows", type=int, default=10_000)
    ap.add_argument("--csv-gb", type=float, default=5.0, help="Size of the big CSV in GiB (0: skip).")
    ap.add_argument("--chunk-rows", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--out", type=Path, default=None, help="Also write the results here.")
    args = ap.parse_args(argv)

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"bench_masking  {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}")
    say(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, pandas {pd.__version__}")
    t = time.perf_counter()
    df = generate(args.rows)
    say(f"data: {len(df):,} generated rows, {len(PERSONAL)} personal columns "
        f"({', '.join(PERSONAL)}) + 2 others; generated in {time.perf_counter() - t:.1f} s")
    say()

    secs, masked, types = ours_columns(df)
    ours_rps = len(df) / secs
    say(f"auditkit scan + mask (whole columns), {len(df):,} rows: {secs:.2f} s = "
        f"{ours_rps:,.0f} rows/s")
    say(f"  inventory: {types}")
    leaked = sum(int(masked[c].astype(str).eq(df[c].astype(str)).sum())
                 for c in PERSONAL if c in masked)
    say(f"  cells left unchanged in personal columns: {leaked}")

    sub = df.sample(min(args.naive_rows, len(df)), random_state=1).reset_index(drop=True)
    secs_s, masked_s = ours_spans(sub)
    spans_rps = len(sub) / secs_s
    say(f"auditkit per-cell span detection + replace, {len(sub):,} rows: {secs_s:.2f} s = "
        f"{spans_rps:,.0f} rows/s")
    missed = sum(int(masked_s[c].astype(str).eq(sub[c].astype(str)).sum()) for c in PERSONAL)
    say(f"  cells left unchanged: {missed} (names are not found in free text: no NER)")

    secs_n, out_n = naive(sub)
    naive_rps = len(sub) / secs_n
    say(f"naive per-cell re loop (6 patterns, no validation), {len(sub):,} rows: "
        f"{secs_n:.2f} s = {naive_rps:,.0f} rows/s")

    pres_rps = None
    if args.presidio_rows > 0:
        psub = df.sample(min(args.presidio_rows, len(df)), random_state=2).reset_index(drop=True)
        secs_p, out_p = presidio(psub)
        pres_rps = len(psub) / secs_p
        missed_p = sum(
            sum(1 for a, b in zip(out_p[i], psub[c].tolist(), strict=True) if a == b)
            for i, c in enumerate(PERSONAL))
        say(f"Presidio analyzer + anonymizer (pattern recognisers, blank spaCy), "
            f"{len(psub):,} rows: {secs_p:.2f} s = {pres_rps:,.0f} rows/s")
        say(f"  cells left unchanged: {missed_p} (PERSON needs an NER model)")
    say()
    say("ratios (rows/s, higher is faster; per-cell tools measured on subsamples, scaled):")
    say(f"  auditkit whole-column vs naive re loop : {ours_rps / naive_rps:8.1f}x  (goal >= 5x)")
    if pres_rps:
        say(f"  auditkit whole-column vs Presidio      : {ours_rps / pres_rps:8.1f}x  (goal >= 50x)")
        say(f"  auditkit per-cell spans vs Presidio     : {spans_rps / pres_rps:8.1f}x")
    say(f"  auditkit per-cell spans vs naive loop   : {spans_rps / naive_rps:8.1f}x")

    if args.csv_gb > 0:
        say()
        res = big_csv(args.csv_gb, args.chunk_rows, args.workdir)
        say(f"bounded memory: CSV of {res['bytes'] / 1024**3:.2f} GiB ({res['rows']:,} rows) "
            f"masked in {res['chunks']} chunks of {args.chunk_rows:,} rows: "
            f"{res['seconds']:.1f} s = {res['rows'] / res['seconds']:,.0f} rows/s, "
            f"peak RSS {res['peak_rss_mb']:,.0f} MiB "
            f"({res['peak_rss_mb'] * 1024**2 / res['bytes']:.1%} of the file)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
