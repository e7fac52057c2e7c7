"""Train the prose detector's model (``privacy/masking/data/prose_model.json.gz``).

Recipe:

- Data: the labelled synthetic PII corpus of Microsoft's presidio-research project
  (``synth_dataset_v2.json``, MIT licence; every value in it is generated, none is a real
  person's), found at ``../shared/datasets/pii/`` or given with ``--corpus``.
- Split by sentence template: records whose ``template_id`` is a multiple of 3 are held out
  (``auditkit.privacy.masking._evaluate.split_by_template``) and never read here; the model is
  trained and its regularisation chosen on the other templates only, with cross-validation
  grouped by template.
- Candidates and features are exactly those of the detector at run time
  (``_prose_names.candidates`` / ``features``); the label of a candidate word is the gold span
  it lies in (``PERSON``, ``LOCATION`` for ``GPE``, otherwise none).
- Model: multinomial logistic regression (scikit-learn); its regularisation ``C`` is chosen by
  word-level cross-validation grouped by template. Then a margin the ``PERSON`` score must
  clear is chosen by span-level cross-validation (the detector run on the left-out templates,
  scored with the rule of ``_evaluate``), for the best person F1; it is folded into the
  intercept. Weights below 1e-3 in every class are dropped; the rest are stored rounded to four
  decimals, with their feature names, as JSON.

Run: ``python tools/train_prose_model.py [--corpus PATH]``; deterministic.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
from pathlib import Path

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold

from auditkit.privacy.masking import _prose
from auditkit.privacy.masking import _prose_names as pn
from auditkit.privacy.masking._evaluate import (
    load_labelled_corpus,
    score_detector,
    split_by_template,
)
from auditkit.privacy.masking._prose import address_pass
from auditkit.privacy.masking._prose_tokens import tokens

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "datasets" / "pii" / "synth_dataset_v2.json"
OUT = REPO / "privacy" / "masking" / "data" / "prose_model.json.gz"
LABEL_OF = {"PERSON": 1, "LOCATION": 2}
MARGINS = (0.0, 0.25, 0.5, 0.75, 1.0)
FOLDS = 5


def examples(records):
    rows, labels, groups = [], [], []
    for rec in records:
        toks = tokens(rec.text)
        _, taken = address_pass(toks)
        ctx = pn._Context(rec.text, toks, taken)
        tiers = ctx.place_tiers()
        for k in pn.candidates(ctx, taken):
            t = toks[k]
            label = 0
            for g0, g1, ent in rec.spans:
                if ent in LABEL_OF and t.start < g1 and g0 < t.end:
                    label = LABEL_OF[ent]
            rows.append(dict.fromkeys(pn.features(ctx, k, tiers), 1))
            labels.append(label)
            groups.append(rec.template_id)
    return rows, np.array(labels), np.array(groups)


def _fit(records, c):
    rows, y, _ = examples(records)
    vec = DictVectorizer()
    model = LogisticRegression(C=c, max_iter=2000).fit(vec.fit_transform(rows), y)
    return vec, model


def _use(vec, model, margin):
    """Make the detector use ``model`` (for cross-validation only)."""
    names = vec.get_feature_names_out()
    weights = {str(names[j]): tuple(model.coef_[:, j]) for j in range(len(names))}
    intercept = tuple(b - (margin if i == 1 else 0.0) for i, b in enumerate(model.intercept_))
    pn._model = lambda: (weights, intercept)
    _prose._find.cache_clear()


def choose_margin(dev, c):
    """The person margin with the best span-level F1 over template-grouped folds."""
    totals = {m: [0, 0, 0, 0] for m in MARGINS}
    for f in range(FOLDS):
        train = [r for r in dev if (r.template_id * 7919) % FOLDS != f]
        test = [r for r in dev if (r.template_id * 7919) % FOLDS == f]
        vec, model = _fit(train, c)
        for m in MARGINS:
            _use(vec, model, m)
            s = score_detector(test, _prose.find_prose_spans, ["PERSON"]).get("PERSON")
            if s is not None:
                for i, n in enumerate((s.gold, s.found, s.predicted, s.correct)):
                    totals[m][i] += n
    best = None
    for m, (g, found, pred, correct) in totals.items():
        p, r = correct / max(pred, 1), found / max(g, 1)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(f"person margin {m}: span-level CV precision {p:.3f} recall {r:.3f} F1 {f1:.3f}")
        if best is None or f1 > best[1]:
            best = (m, f1)
    return best[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    a = ap.parse_args(argv)
    dev, _held_out = split_by_template(load_labelled_corpus(a.corpus))
    rows, y, groups = examples(dev)
    vec = DictVectorizer()
    X = vec.fit_transform(rows)
    print(f"{len(dev)} development records, {X.shape[0]} candidate words, {X.shape[1]} features")
    best = None
    for c in (0.1, 0.3, 1.0, 3.0):
        scores = []
        for tr, te in GroupKFold(n_splits=5).split(X, y, groups):
            m = LogisticRegression(C=c, max_iter=2000).fit(X[tr], y[tr])
            scores.append(f1_score(y[te], m.predict(X[te]), labels=[1, 2], average="macro"))
        print(f"C={c}: grouped-CV macro F1 {np.mean(scores):.3f}")
        if best is None or np.mean(scores) > best[1]:
            best = (c, np.mean(scores))
    margin = choose_margin(dev, best[0])
    model = LogisticRegression(C=best[0], max_iter=2000).fit(X, y)
    names = vec.get_feature_names_out()
    weights = {
        str(names[j]): [round(float(w), 4) for w in model.coef_[:, j]]
        for j in range(len(names)) if np.abs(model.coef_[:, j]).max() >= 1e-3
    }
    intercept = [float(b) - (margin if i == 1 else 0.0) for i, b in enumerate(model.intercept_)]
    payload = {"labels": list(pn.LABELS), "C": best[0], "person_margin": margin,
               "trained_on": "template_id % 3 != 0",
               "intercept": [round(b, 4) for b in intercept], "weights": weights}
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    OUT.write_bytes(buf.getvalue())
    print(f"C={best[0]}, person margin {margin}, {len(weights)} weights, {len(buf.getvalue())} bytes -> {OUT.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
