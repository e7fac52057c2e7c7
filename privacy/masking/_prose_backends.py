"""Which detector finds names, addresses and places in free text.

By default the built-in offline detector (:mod:`._prose`) is registered as the text finder
``"prose"``. :func:`set_prose_detector` switches it off, back on, or to a named-entity model a
user already has on disk: a spaCy pipeline or a GLiNER model, loaded from a local folder only
(nothing is downloaded) and only with ``trusted=True``, because loading either runs code from
the model's files (spaCy pipelines may name custom components; GLiNER weights are read with
``torch.load``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from auditkit.privacy.errors import PrivacyInputError
from auditkit.privacy.masking._prose import PROSE_ENTITIES, find_prose_spans
from auditkit.privacy.masking._spans import Span, register_text_finder, unregister_text_finder

__all__ = ["local_ner_model", "set_prose_detector"]

#: The name of the text finder the detector is registered under.
FINDER_NAME = "prose"
#: Its priority: below every built-in pattern recogniser, so a validated e-mail, card or phone
#: number inside a name-like run stays what its validator says.
PRIORITY = 50

#: Labels of spaCy (OntoNotes, WikiNER) and GLiNER mapped to the toolkit's entity types.
LABEL_MAP: Mapping[str, str] = {
    "person": "PERSON", "per": "PERSON", "gpe": "LOCATION", "loc": "LOCATION",
    "location": "LOCATION", "city": "LOCATION", "country": "LOCATION", "fac": "STREET_ADDRESS",
    "street address": "STREET_ADDRESS", "address": "STREET_ADDRESS",
}
_GLINER_LABELS = ("person", "street address", "city", "country")


def set_prose_detector(detector: str | Callable[[str], list[Span]] = "builtin") -> None:
    """Use ``detector`` for names, addresses and places in free text.

    ``"builtin"`` (the default): the offline gazetteer-and-model detector. ``"off"``: none
    (free text is searched for pattern entities only). A callable ``text -> list[Span]``, e.g.
    :func:`local_ner_model`: that detector.
    """
    if detector == "off":
        unregister_text_finder(FINDER_NAME)
        return
    if detector == "builtin":
        finder: Callable[[str], list[Span]] = find_prose_spans
    elif callable(detector):
        finder = detector
    else:
        raise PrivacyInputError(
            "set_prose_detector takes 'builtin', 'off' or a callable text -> list[Span]; got "
            f"{type(detector).__name__}."
        )
    register_text_finder(FINDER_NAME, PROSE_ENTITIES, finder, priority=PRIORITY, force=True)


def local_ner_model(
    backend: str, path: str | Path, *, trusted: bool = False, threshold: float = 0.5
) -> Callable[[str], list[Span]]:
    """A detector backed by a spaCy pipeline or a GLiNER model stored in the folder ``path``.

    ``trusted=True`` is required: loading runs code from the model's files. Nothing is
    downloaded; a name that is not an existing folder is refused.
    """
    if backend not in {"spacy", "gliner"}:
        raise PrivacyInputError(
            f"The prose backend must be 'spacy' or 'gliner'; got {backend!r}."
        )
    folder = Path(path)
    if not folder.is_dir():
        raise PrivacyInputError(
            f"The {backend} model folder {folder.name!r} does not exist or is not a folder. "
            "Give the path of a model saved on this machine; nothing is downloaded."
        )
    if not trusted:
        raise PrivacyInputError(
            f"Loading the {backend} model in {folder.name!r} runs code from its files. Pass "
            "trusted=True only for a model from a source you trust."
        )
    try:
        module = importlib.import_module("spacy" if backend == "spacy" else "gliner")
    except ImportError:
        raise PrivacyInputError(
            f"The {backend} backend needs the '{backend}' package; install it "
            f"(pip install {backend}) or use the built-in detector."
        ) from None
    with _offline():
        if backend == "spacy":
            return _spacy_finder(module.load(folder))
        model = module.GLiNER.from_pretrained(str(folder), local_files_only=True)
    return _gliner_finder(model, threshold)


#: Environment switches that keep Hugging Face libraries from the network (GLiNER builds its
#: tokenizer from a hub id in its config when the folder lacks the files).
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@contextmanager
def _offline() -> Iterator[None]:
    """Load with the Hugging Face libraries offline; the environment is restored after."""
    saved = {k: os.environ.get(k) for k in _OFFLINE_ENV}
    os.environ.update(_OFFLINE_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _mapped(label: str) -> str | None:
    return LABEL_MAP.get(label.casefold())


def _spacy_finder(nlp: object) -> Callable[[str], list[Span]]:
    def find(text: str) -> list[Span]:
        doc = nlp(text)  # type: ignore[operator]
        out = []
        for ent in doc.ents:
            entity = _mapped(ent.label_)
            if entity is not None:
                out.append(Span(ent.start_char, ent.end_char, entity, 0.8, "spacy"))
        return out

    return find


def _gliner_finder(model: object, threshold: float) -> Callable[[str], list[Span]]:
    def find(text: str) -> list[Span]:
        found = model.predict_entities(  # type: ignore[attr-defined]
            text, list(_GLINER_LABELS), threshold=threshold)
        out = []
        for ent in found:
            entity = _mapped(str(ent["label"]))
            if entity is not None:
                out.append(Span(int(ent["start"]), int(ent["end"]), entity,
                                float(ent.get("score", threshold)), "gliner"))
        return out

    return find


set_prose_detector("builtin")
