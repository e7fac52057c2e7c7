"""PII discovery and masking: quality and speed of auditkit vs a per-cell ``re`` loop and Presidio.

One process (the big-file run is a child, so its peak memory is its own), five parts:

1. Whole columns: ``--rows`` generated rows (name, email, phone, US SSN, card, IPv4 + 2 other
   columns), ``scan`` + ``mask``; then per-cell masking on ``--naive-rows`` rows against a loop
   of 6 ``re`` substitutions, and Presidio analyzer + anonymizer on ``--presidio-rows`` rows.
2. Quality on presidio-research's labelled ``synth_dataset_v2.json`` (``../shared/datasets/pii``;
   skipped with a note when absent): per-entity precision / recall / F1, auditkit and Presidio;
   pattern entities on the whole corpus, names, street addresses and places on held-out templates.
3. Decoys (``tests/privacy/masking/decoy_corpus.py``, seed 11): sentences with no personal data
   where a digit-bearing identifier would be altered, or any span found; phone recall.
4. Cells/s, search only, same cells: ``find_spans_batch`` (pattern entities; with names and
   places), the ``re`` loop, Presidio's analyzer; on repeated and on all-distinct values.
5. Bounded memory: a ``--csv-gb`` GiB CSV masked in chunks by ``mask_file``; peak RSS.

Presidio runs its predefined recognisers over a blank spaCy pipeline (no spaCy model can be
downloaded here), so it has no NER: no names or places.

Usage::

    python benchmarks/bench_masking.py                 # writes benchmarks/results/masking.txt
    python benchmarks/bench_masking.py --rows 200000 --naive-rows 30000 --presidio-rows 3000 \\
        --csv-gb 0.2 --no-save
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _common import machine  # noqa: E402

CORPUS = REPO.parent / "shared" / "datasets" / "pii" / "synth_dataset_v2.json"
DECOYS = REPO / "tests" / "privacy" / "masking" / "decoy_corpus.py"
PATTERN = ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER", "US_SSN")
PROSE = ("PERSON", "STREET_ADDRESS", "LOCATION")
#: Presidio's entity names -> ours (the pattern entities and PERSON / LOCATION are the same).
PRESIDIO_TO_OURS = {"EMAIL": "EMAIL_ADDRESS", "GPE": "LOCATION"}

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


def naive(df: pd.DataFrame, substitute: bool = True) -> tuple[float, list[list[str]]]:
    """Seconds for the 6-pattern loop over every cell: substitute each pattern in turn, or only
    find every match (``substitute=False``, nothing returned)."""
    t = time.perf_counter()
    out = []
    for col in PERSONAL:
        masked = []
        for value in df[col].tolist():
            if not substitute:
                [(tag, m.span()) for tag, rx in NAIVE for m in rx.finditer(value)]
                continue
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


def presidio(analyzer, df: pd.DataFrame, anonymizer=None, entities=None):  # pragma: no cover
    """Seconds for Presidio over every cell: analyze, then anonymize when given an anonymizer."""
    ents = list(entities or ("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD",
                              "IP_ADDRESS", "PERSON"))
    t = time.perf_counter()
    out = []
    for col in PERSONAL:
        masked = []
        for value in df[col].tolist():
            results = analyzer.analyze(text=value, language="en", entities=ents)
            if anonymizer is not None:
                masked.append(anonymizer.anonymize(text=value, analyzer_results=results).text)
        out.append(masked)
    return time.perf_counter() - t, out


def presidio_detector(analyzer) -> Callable[[str], list]:  # pragma: no cover
    """Presidio's analyzer as a ``text -> [Span]`` detector, entity names mapped to ours; its
    default entities and score threshold (0: every result is kept)."""
    from auditkit.privacy.masking import Span

    def detect(text: str) -> list[Span]:
        return [Span(r.start, r.end, PRESIDIO_TO_OURS.get(r.entity_type, r.entity_type),
                     float(r.score), "presidio")
                for r in analyzer.analyze(text=text, language="en")]

    return detect


# -- quality on the labelled corpus ------------------------------------------------------------
Say = Callable[..., None]


def _matching_rule() -> list[str]:
    """The matching rule, as the scoring module's docstring states it."""
    from auditkit.privacy.masking import _evaluate

    doc = _evaluate.__doc__ or ""
    start, end = doc.find("Matching rule"), doc.find("Only counts")
    if start < 0 or end < start:
        return ["(see privacy/masking/_evaluate.py)"]
    return [line.rstrip() for line in doc[start:end].strip().splitlines() if line.strip()]


def _prf(sc) -> str:
    """``P R F1`` of one EntityScore; precision and F1 are n.a. with no prediction."""
    if sc is None or not sc.predicted:
        return f" n.a. {sc.recall if sc is not None else 0.0:5.3f}  n.a."
    return f"{sc.precision:5.3f} {sc.recall:5.3f} {sc.f1:5.3f}"


def quality(say: Say, analyzer) -> None:
    from auditkit.privacy import masking as pm

    say("2. quality on a labelled corpus")
    if not CORPUS.is_file():
        say(f"  skipped: {CORPUS.name} not found in {CORPUS.parent} (presidio-research corpus)")
        return
    records = pm.load_labelled_corpus(CORPUS)
    _, held = pm.split_by_template(records)
    say(f"  corpus: {CORPUS.name}, {len(records):,} texts; held-out templates (template_id % 3 "
        f"== 0, sentence shapes kept out of the name/place finder's tuning): {len(held):,} texts")
    say("  matching rule, quoted from privacy/masking/_evaluate.py:")
    for line in _matching_rule():
        say(f"    | {line}")
    pres = presidio_detector(analyzer)
    say(f"  {'entity':<15}{'gold':>6}   auditkit P / R / F1    Presidio P / R / F1")
    for title, recs, ents in (
        ("pattern entities, whole corpus (nothing was trained on it):", records, PATTERN),
        ("names, street addresses, places, held-out templates only:", held, PROSE),
    ):
        say(f"  {title}")
        ours_sc, pres_sc = pm.score_detector(recs, pm.find_spans), pm.score_detector(recs, pres)
        for e in ents:
            gold = ours_sc[e].gold if e in ours_sc else 0
            say(f"  {e:<15}{gold:>6}   {_prf(ours_sc.get(e))}      {_prf(pres_sc.get(e))}")
        for name, sc in (("auditkit", ours_sc), ("Presidio", pres_sc)):
            other = {e: s.predicted for e, s in sc.items() if s.gold == 0 and s.predicted}
            say(f"    {name} spans of types with no gold label here (not scored): "
                f"{other or 'none'}")
    say("  Presidio here has no offline recogniser for names or places (a blank spaCy pipeline "
        "has no NER) and no STREET_ADDRESS entity: its 0 / n.a. on those rows is by "
        "construction, not a measured comparison; with a spaCy NER model it would find some.")


# -- decoys and phone recall -------------------------------------------------------------------
def _load_decoys():
    if not DECOYS.is_file():
        return None
    spec = importlib.util.spec_from_file_location("decoy_corpus", DECOYS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decoy_stats(sentences: list[str], detect) -> tuple[np.ndarray, Counter]:
    """Shares of sentences: (a) a span holding a digit, same with score >= 0.5, same for the 6
    shared pattern entities only; (b) any span. And span counts by entity type."""
    hits = np.zeros(4)
    kinds: Counter = Counter()
    for text in sentences:
        spans = detect(text)
        kinds.update(s.entity for s in spans)
        digit = [s for s in spans if any(ch.isdigit() for ch in text[s.start:s.end])]
        hits += (bool(digit), any(s.score >= 0.5 for s in digit),
                 any(s.entity in PATTERN for s in digit), bool(spans))
    return hits / max(len(sentences), 1), kinds


def _phone_recall(pairs: list[tuple[str, str]], detect) -> float:
    found = 0
    for text, number in pairs:
        i = text.find(number)
        found += any(s.entity == "PHONE_NUMBER" and s.start < i + len(number) and i < s.end
                     for s in detect(text))
    return found / max(len(pairs), 1)


def decoys(say: Say, analyzer) -> None:
    from auditkit.privacy.masking import find_spans

    say("3. decoys: digit-bearing identifiers that are not personal data")
    corpus = _load_decoys()
    if corpus is None:
        say(f"  skipped: {DECOYS} not found")
        return
    sentences = corpus.decoy_sentences(n=2000, seed=11)
    pairs = corpus.phone_sentences(n=600, seed=11)
    say(f"  {len(sentences):,} decoy sentences and {len(pairs)} phone sentences (8 languages), "
        "seed 11: seed 0 was used to tune the detectors, so these sentences were not seen. Both "
        "tools with their default entity sets and thresholds (Presidio's: 0).")
    tools = {"auditkit": find_spans, "Presidio": presidio_detector(analyzer)}
    stats = {name: _decoy_stats(sentences, d) for name, d in tools.items()}
    recall = {name: _phone_recall(pairs, d) for name, d in tools.items()}
    labels = ("(a) a digit-bearing identifier altered (a span holding a digit)",
              "    same, counting spans with score >= 0.5 only",
              "    same, counting the 6 shared pattern entities only",
              "(b) any span at all (names and places included)")
    say(f"  {'share of decoy sentences':<66}{'auditkit':>9}{'Presidio':>10}")
    for k, label in enumerate(labels):
        say(f"  {label:<66}{stats['auditkit'][0][k]:>9.1%}{stats['Presidio'][0][k]:>10.1%}")
    say(f"  {'phone recall (a PHONE_NUMBER span overlaps the number)':<66}"
        f"{recall['auditkit']:>9.1%}{recall['Presidio']:>10.1%}")
    for name, (_, kinds) in stats.items():
        top = ", ".join(f"{e} {n}" for e, n in kinds.most_common(5))
        say(f"  top 5 entity types found in decoys, {name} (spans): {top or 'none'}")
    say("  No decoy names a person, so every PERSON span in (b) is a false positive (capitalised "
        "non-name words); some decoys put a city after a postcode ('75008 Paris'), where a "
        "LOCATION span is a place rightly found.")


# -- cells per second, search only -------------------------------------------------------------
def ours_search(df: pd.DataFrame, entities) -> tuple[float, int]:
    """Seconds for ``find_spans_batch`` over the 6 columns (a call a column); cells with a span."""
    from auditkit.privacy.masking._span_engine import find_spans_batch

    t = time.perf_counter()
    batches = [find_spans_batch(df[col], entities) for col in PERSONAL]
    secs = time.perf_counter() - t
    return secs, sum(int(np.count_nonzero(np.diff(b.offsets))) for b in batches)


def cells_per_second(say: Say, n: int, n_presidio: int, analyzer) -> None:
    say(f"4. cells/s, search only (spans found, nothing replaced), the same {6 * n:,} cells "
        f"({n:,} rows x 6 columns), same process")
    warm = generate(2000, 90)  # warm-up: compiled patterns, gazetteers, phone metadata
    for ents in (PATTERN, None):
        ours_search(warm, ents)
    distinct = generate(n, 92)
    distinct["name"] += " " + pd.Series(np.arange(n).astype(str), dtype="str")
    frames = {"repeated": generate(n, 91), "distinct": distinct}  # fresh values: no warm cache
    cps: dict[str, list[float]] = {"a": [], "b": [], "naive": []}
    hits: dict[str, list[int]] = {"a": [], "b": []}
    for label, df in frames.items():
        shares = ", ".join(f"{c} {df[c].nunique() / n:.0%}" for c in PERSONAL)
        say(f"  {label} values, distinct share by column: {shares}")
        for key, ents in (("a", PATTERN), ("b", None)):
            secs, hit = ours_search(df, ents)
            cps[key].append(6 * n / secs)
            hits[key].append(hit)
        cps["naive"].append(6 * n / naive(df, substitute=False)[0])
    names = {"a": "auditkit find_spans_batch, 6 pattern entities (a)",
             "b": "auditkit find_spans_batch, + names and places (b)",
             "naive": "naive loop, 6 re patterns, finditer, no validation"}
    say(f"  {'cells/s':<56}{'repeated':>11}{'distinct':>11}")
    for key, name in names.items():
        say(f"  {name:<56}{cps[key][0]:>11,.0f}{cps[key][1]:>11,.0f}")
    p_cps = 0.0
    if n_presidio > 0:
        analyzer.analyze(text="warm-up 212-555-0199", language="en")
        p_df = frames["distinct"].head(n_presidio)
        p_cps = 6 * len(p_df) / presidio(analyzer, p_df, entities=PATTERN)[0]
        say(f"  {f'Presidio analyzer, 6 pattern entities, first {len(p_df):,} rows':<56}"
            f"{'':>11}{p_cps:>11,.0f}")
    for key in ("a", "b"):
        r = cps[key]
        say(f"  {f'ratio auditkit ({key}) / naive loop':<56}{r[0] / cps['naive'][0]:>10.1f}x"
            f"{r[1] / cps['naive'][1]:>10.1f}x")
        if p_cps:
            say(f"  {f'ratio auditkit ({key}) / Presidio':<56}{r[0] / p_cps:>10.1f}x"
                f"{r[1] / p_cps:>10.1f}x")
    say(f"  cells with a span: (a) {hits['a'][0]:,} / {hits['a'][1]:,}, (b) {hits['b'][0]:,} / "
        f"{hits['b'][1]:,} (repeated / distinct) of {6 * n:,}")
    say("  One timing each, after a warm-up on other values. Presidio has no cache: it is timed "
        "once, on the first rows of the distinct frame, and both columns' ratios divide by that "
        "figure. The naive loop also tries a capitalised word pair as PERSON, which (a) does not.")


# -- bounded memory --------------------------------------------------------------------------
# Peak RSS from VmHWM (this process's own high-water mark): on Linux ru_maxrss survives fork +
# exec, so it would report the parent's peak when that is higher.
CHILD = r"""
import json, resource, time
from auditkit.privacy.masking import mask_file
def peak_mb():
    try:
        with open("/proc/self/status") as fh:
            return next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = peak_mb()
t = time.perf_counter()
s = mask_file({src!r}, {dst!r}, {policy!r}, chunk_rows={chunk})
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "rows": s.n_rows, "chunks": s.chunks, "base_rss_mb": base,
                  "peak_rss_mb": peak_mb()}}))
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
    policy = {"columns": dict(zip(PERSONAL, OPS.values(), strict=True))}
    code = CHILD.format(src=str(src), dst=str(dst), policy=policy, chunk=chunk_rows)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update({"bytes": size, "write_seconds": write_s})
    src.unlink(missing_ok=True)
    dst.unlink(missing_ok=True)
    return res


def columns_section(say: Say, args: argparse.Namespace, engines) -> None:
    t = time.perf_counter()
    df = generate(args.rows)
    say(f"1. whole columns and per-cell masking; data: {len(df):,} generated rows, "
        f"{len(PERSONAL)} personal columns ({', '.join(PERSONAL)}) + 2 others; generated in "
        f"{time.perf_counter() - t:.1f} s")
    secs, masked, types = ours_columns(df)
    ours_rps = len(df) / secs
    say(f"  auditkit scan + mask (whole columns), {len(df):,} rows: {secs:.2f} s = "
        f"{ours_rps:,.0f} rows/s")
    say(f"    inventory: {types}")
    leaked = sum(int(masked[c].astype(str).eq(df[c].astype(str)).sum())
                 for c in PERSONAL if c in masked)
    say(f"    cells left unchanged in personal columns: {leaked}")

    sub = df.sample(min(args.naive_rows, len(df)), random_state=1).reset_index(drop=True)
    secs_s, masked_s = ours_spans(sub)
    spans_rps = len(sub) / secs_s
    say(f"  auditkit per-cell span detection + replace, {len(sub):,} rows: {secs_s:.2f} s = "
        f"{spans_rps:,.0f} rows/s")
    missed = {c: int(masked_s[c].astype(str).eq(sub[c].astype(str)).sum()) for c in PERSONAL}
    say(f"    cells left unchanged, by column: {missed}")

    secs_n, _ = naive(sub)
    naive_rps = len(sub) / secs_n
    say(f"  naive per-cell re loop (6 patterns substituted, no validation), {len(sub):,} rows: "
        f"{secs_n:.2f} s = {naive_rps:,.0f} rows/s")

    pres_rps = None
    if args.presidio_rows > 0:
        psub = df.sample(min(args.presidio_rows, len(df)), random_state=2).reset_index(drop=True)
        secs_p, out_p = presidio(*engines[:1], psub, engines[1])
        pres_rps = len(psub) / secs_p
        missed_p = {c: sum(1 for a, b in zip(out_p[i], psub[c].tolist(), strict=True) if a == b)
                    for i, c in enumerate(PERSONAL)}
        say(f"  Presidio analyzer + anonymizer (pattern recognisers, blank spaCy), "
            f"{len(psub):,} rows: {secs_p:.2f} s = {pres_rps:,.0f} rows/s")
        say(f"    cells left unchanged, by column: {missed_p} (PERSON needs an NER model)")
    say("  ratios (rows/s, higher is faster; per-cell tools measured on subsamples, scaled):")
    say(f"    auditkit whole-column vs naive re loop : {ours_rps / naive_rps:8.1f}x  (goal >= 5x)")
    if pres_rps:
        say(f"    auditkit whole-column vs Presidio      : {ours_rps / pres_rps:8.1f}x  "
            "(goal >= 50x)")
        say(f"    auditkit per-cell spans vs Presidio    : {spans_rps / pres_rps:8.1f}x")
    say(f"    auditkit per-cell spans vs naive loop  : {spans_rps / naive_rps:8.1f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--naive-rows", type=int, default=100_000)
    ap.add_argument("--presidio-rows", type=int, default=10_000)
    ap.add_argument("--csv-gb", type=float, default=5.0,
                    help="Size of the big CSV in GiB (0: skip).")
    ap.add_argument("--chunk-rows", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "masking.txt",
                    help="Also write everything printed here (default: %(default)s).")
    ap.add_argument("--no-save", action="store_true", help="Print only; write no file.")
    args = ap.parse_args(argv)

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    from importlib.metadata import version

    started = time.perf_counter()
    say(f"bench_masking  {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}")
    say(f"machine: {machine(memory=True)}")
    say(f"Python {platform.python_version()}, pandas {pd.__version__}, presidio-analyzer "
        f"{version('presidio-analyzer')}, spaCy {version('spacy')} (blank 'en' pipeline)")
    say(f"command: bench_masking.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    engines = presidio_engines()
    say()
    columns_section(say, args, engines)
    say()
    quality(say, engines[0])
    say()
    decoys(say, engines[0])
    say()
    cells_per_second(say, args.naive_rows, args.presidio_rows, engines[0])
    if args.csv_gb > 0:
        say()
        res = big_csv(args.csv_gb, args.chunk_rows, args.workdir)
        say(f"5. bounded memory: CSV of {res['bytes'] / 1024**3:.2f} GiB ({res['rows']:,} rows) "
            f"masked in {res['chunks']} chunks of {args.chunk_rows:,} rows: "
            f"{res['seconds']:.1f} s = {res['rows'] / res['seconds']:,.0f} rows/s, "
            f"peak RSS {res['peak_rss_mb']:,.0f} MiB ({res['base_rss_mb']:,.0f} MiB of it before "
            "reading: interpreter and imports)")
    say()
    say(f"total run time {time.perf_counter() - started:.0f} s")
    if args.out and not args.no_save:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
