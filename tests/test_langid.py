"""Language ID (jokemine.cleaning.langid): every [clean] langid backend through its public API, the preference for
the configured languages, and the errors a user sees. Accuracy on the labeled real texts: tests/test_e2e_real.py."""

from __future__ import annotations

import pytest

from jokemine.cleaning.langid import BACKENDS, backend_version, detect_batch, detect_lang, detector, pick

TEXTS = [
    "Why did the scarecrow win an award? Because he was outstanding in his field.",
    "Встречаются два друга, и один другому говорит: слушай, а ты знаешь, что завтра понедельник?",
    "¿Qué le dice una iguana a su hermana gemela? Somos iguanitas.",
    "12345 !!! 😀",
    "",
]


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_backend_labels_english_russian_and_other_and_is_deterministic(backend: str) -> None:
    got = detect_batch(TEXTS, 200, backend)
    assert got == ["en", "ru", "es", "und", "und"]
    assert detect_batch(TEXTS[::-1], 200, backend)[::-1] == got  # order does not matter
    assert [detect_lang(t, 200, backend) for t in TEXTS] == got
    assert backend_version(backend).startswith(f"{backend}-")


def test_preferring_the_configured_languages_on_short_texts() -> None:
    ranked = [("da", 0.30), ("en", 0.05), ("no", 0.04)]
    assert pick(ranked) == "da"  # no preference: the top guess
    assert pick(ranked, ["en", "ru"], 0.1) == "en"  # en has >= 0.1 x the top probability
    assert pick(ranked, ["en", "ru"], 0.2) == "da"
    assert pick([("es", 0.98), ("en", 0.01)], ["en"], 0.1) == "es"  # a real Spanish text stays Spanish
    assert pick([], ["en"], 0.1) == "und"
    # "Lazy Beavers": fastText's lite model guesses English only weakly; langdetect's top guess is Slovak
    assert detect_lang("Lazy Beavers", backend="langdetect") != "en"
    assert detect_lang("Lazy Beavers", backend="langdetect", prefer=["en", "ru"], ratio=0.1) == "en"


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="must be one of fasttext, langdetect, lingua, py3langid"):
        detector("cld3")
    ranked = detector("fasttext")("Good morning, how are you today?")
    assert ranked[0][0] == "en" and 0 < ranked[0][1] <= 1 and len(ranked) <= 5


def test_config_names_and_old_key() -> None:
    from jokemine.config import CleanConfig

    assert CleanConfig(langdetect_chars=150).langid_chars == 150  # configs written before the rename
    cfg = CleanConfig()
    assert (cfg.langid, cfg.langid_chars, cfg.langid_prefer) == ("fasttext", 200, 0.1)
    with pytest.raises(ValueError, match="langid"):
        CleanConfig(langid="cld3")  # type: ignore[arg-type]
