"""Joke structure: the rules one by one (features of the learned boundary model), the model's picks, Reddit titles
that are labels, and exact-boundary accuracy on labeled real texts: the held-out test half of
tests/data/structure_heldout_2.csv, and the tuning texts of tests/data/structure_labels.csv."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jokemine.cleaning.boundary import FEATURES, MODEL_PATH, features, pick
from jokemine.cleaning.structure import rule_split, sentences, split_joke, split_post, title_is_label
from jokemine.cleaning.structure_eval import accuracy, boundary, labeled_texts

LABELS = Path(__file__).parent / "data" / "structure_labels.csv"
HELDOUT = Path(__file__).parent / "data" / "structure_heldout.csv"
HELDOUT_2 = Path(__file__).parent / "data" / "structure_heldout_2.csv"


@pytest.fixture(scope="module")
def labeled(real: Path) -> list:
    return labeled_texts(LABELS, real)


def test_qa_markers_english_and_russian() -> None:
    p = split_joke("Q: What do you call a fake noodle?\nA: An impasta.")
    assert (p.setup, p.punchline, p.method) == ("What do you call a fake noodle?", "An impasta.", "qa_marker")
    p = split_joke("В: Что общего у слона и рояля? О: Оба не умеют летать.")
    assert (p.setup, p.punchline, p.method) == ("Что общего у слона и рояля?", "Оба не умеют летать.", "qa_marker")


def test_question_then_short_answer_and_runs_of_questions() -> None:
    p = rule_split("How do Frenchmen share files? Pierre to Pierre.")
    assert (p.setup, p.punchline, p.method, p.offset) == ("How do Frenchmen share files?", "Pierre to Pierre.",
                                                          "question", 30)  # fmt: skip
    p = rule_split("На улице сыро? Хочется солнышка? $100 в час, и солнышко приедет.")
    assert (p.setup, p.method) == ("На улице сыро? Хочется солнышка?", "question")
    # not an opening question: the narrative rule applies
    assert rule_split("I went to the doctor. He asked: why? I said: because.").method == "last_sentence"
    # the model keeps the rule's answer boundary and names it after the rule
    p = split_joke("How do Frenchmen share files? Pierre to Pierre.")
    assert (p.punchline, p.method) == ("Pierre to Pierre.", "question") and p.confidence > 0.9
    p = split_joke("- У меня жена беременная.\n- Какой месяц?\n- Ноябрь.")  # the model's turn, not the rule's
    assert p.method in ("dialogue", "sentence")


def test_dialogue_last_turn_and_short_tag(labeled: list) -> None:
    text = next(r.text for r in labeled if r.group == "anekdot_ru" and r.key == "1310469")
    p = split_joke(text)  # real anekdot.ru dialogue: the punchline is the last turn
    assert p.method == "dialogue" and p.punchline == "- Нет, сынок – это уже эмбарго!"
    assert p.setup.endswith("- Пап, а бабуля запрещает всем деду наливать – это тоже?")
    p = rule_split("- Ты меня любишь?\n- Конечно, дорогая, особенно по пятницам.\n- Правда?\n- Да.")
    assert p.punchline == "- Правда?\n- Да."  # a one-word last turn is a tag: the last exchange
    p = rule_split("- Чай? Кофе? - Ну что ты за жена такая? Тебе лишь бы не готовить!")
    assert p.method == "dialogue" and p.punchline.startswith("- Ну что ты")


def test_sentences_abbreviations_ellipses_quotes_russian() -> None:
    assert sentences("Mr. Smith met Dr. Jones at 5 p.m. today. They laughed.") == [
        "Mr. Smith met Dr. Jones at 5 p.m. today.",
        "They laughed.",
    ]
    assert sentences("Он купил хлеб, молоко и т.д. и пошёл... домой. «Зачем?» — спросила жена.") == [
        "Он купил хлеб, молоко и т.д. и пошёл... домой.",
        "«Зачем?» — спросила жена.",
    ]
    assert sentences('He said "stop." Then he left.') == ['He said "stop."', "Then he left."]
    assert sentences("А. С. Пушкин написал. Все прочли.") == ["А. С. Пушкин написал.", "Все прочли."]
    assert sentences("i think i have procrastination disease. i'll go to the doctor later") == [
        "i think i have procrastination disease.",
        "i'll go to the doctor later",
    ]  # an all-lowercase corpus: any letter opens a sentence


def test_one_liners_split_at_the_turn_and_asides() -> None:
    p = split_joke("Never trust atoms, they make up everything.")
    assert (p.setup, p.punchline, p.method) == ("Never trust atoms,", "they make up everything.", "turn")
    p = split_joke("I used to be a banker, but I lost interest.")
    assert (p.setup, p.punchline) == ("I used to be a banker,", "but I lost interest.")
    p = split_joke('He walked in. The man said, "I am sorry. I thought you were my wife."')
    assert p.punchline == '"I am sorry. I thought you were my wife."'  # the whole final utterance
    p = rule_split("There's only one you can unload with a pitchfork.\n\nEdit: Who said something about dead babies?")
    assert p.method == "one_liner"  # an edit after one sentence is not a punchline
    assert split_joke("").method == "one_liner" and rule_split("").method == "one_liner"


def test_boundary_model_file_candidates_and_calibration() -> None:
    doc = json.loads(MODEL_PATH.read_text())
    assert doc["features"] == FEATURES and len(doc["weights"]) == len(FEATURES)
    cal = doc["calibration"]
    assert cal["edges"][-1] == 1.0 and len(cal["accuracy"]) == len(cal["edges"]) == len(cal["count"])
    offs, x = features("I used to be a banker, but I lost interest.")
    assert offs[0] == -1 and x.shape == (len(offs), len(FEATURES))
    assert "I used to be a banker, but I lost interest."[offs[offs.index(23)] :] == "but I lost interest."
    choice = pick("I used to be a banker, but I lost interest.")
    assert choice.offset == 23 and choice.confidence in cal["accuracy"] and 0 < choice.probability <= 1
    # a long text stays linear (sets and bisect per candidate): 100,000 characters in well under a second or two
    assert pick("a\n" * 50_000).offset >= 0
    from jokemine.cleaning.stage import rules_digest

    rules_digest.cache_clear()
    before = rules_digest()
    orig = MODEL_PATH.read_bytes()
    try:
        MODEL_PATH.write_bytes(orig + b"\n")  # a refitted model re-cleans: the cache key covers it
        rules_digest.cache_clear()
        assert rules_digest() != before
    finally:
        MODEL_PATH.write_bytes(orig)
        rules_digest.cache_clear()


def test_reddit_titles_that_are_labels() -> None:
    for t in ["A classic", "My favorite joke", "[OC]", "An oldie but a goodie", "Heard this today!", "Dad joke"]:
        assert title_is_label(t), t
    for t in ["Why did the chicken cross the road?", "A man walks into a bar", "My wife left me"]:
        assert not title_is_label(t), t
    p = split_post("Why did the chicken cross the road?", "To get to the other side.")
    assert (p.method, p.setup, p.punchline) == ("title_body", "Why did the chicken cross the road?",
                                                "To get to the other side.")  # fmt: skip
    p = split_post("A classic", "What's brown and sticky? A stick.")
    assert (p.method, p.setup, p.punchline) == ("body:question", "What's brown and sticky?", "A stick.")
    p = split_post("Why was six afraid of seven?", "Why was six afraid of seven? Because seven eight nine.")
    assert (p.method, p.punchline) == ("body:question", "Because seven eight nine.")  # the body repeats the title


def test_exact_boundary_accuracy_on_tuning_texts(labeled: list) -> None:
    assert len(labeled) == 204
    # their one_liner rows were labeled "no split" (the convention before one-liners split at the turn)
    acc = accuracy([r for r in labeled if r.kind != "one_liner"])
    ru, en = acc["lang"]["ru"], acc["lang"]["en"]
    assert ru[1] == 72 and ru[0] >= 64  # measured 2026-12-04 (model fitted on the second held-out set's dev half too)
    assert en[1] == 50 and en[0] >= 45  # 45/50
    assert acc["kind"]["ru/dialogue"] == (25, 25)


def test_exact_boundary_accuracy_on_held_out_test_half(real: Path) -> None:
    first = labeled_texts(HELDOUT, real)  # the first held-out set: its test half is spent, now training data
    assert len(first) == 705 and sum(r.kind != "not_joke" for r in first) == 653
    rows = labeled_texts(HELDOUT_2, real)
    assert len(rows) == 470 and sum(r.kind != "not_joke" for r in rows) == 428
    test = [r for r in rows if r.half == "test"]
    acc = accuracy(test)
    # measured 2026-12-04 (README "Joke structure"), the test half of the second set scored once:
    # model en 80/104 (0.769), ru 75/99 (0.758); the model fitted before this set: 79 and 73
    assert acc["lang"]["en"] == (80, 104) and acc["lang"]["ru"] == (75, 99)
    rules = sum(
        boundary(r.text, -1 if (p := rule_split(r.text)).method == "one_liner" else p.offset)
        == boundary(r.text, r.offset)
        for r in test
        if r.kind != "not_joke"
    )
    assert rules == 56 + 62  # README: rules 0.538 / 0.626; the model beats them by 37 texts of 203
