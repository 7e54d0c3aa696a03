"""What posters write around a joke (jokemine.cleaning.notes), taken off; and what only looks like it, kept.

The strings here are written for the tests (the real rows are checked in tests/test_e2e_real.py)."""

from __future__ import annotations

import pytest

from jokemine.cleaning import filters as F
from jokemine.cleaning.notes import placeholder, signoff_only, strip_notes, strip_title_tags
from jokemine.cleaning.structure import title_is_label
from jokemine.schema import DropReason, empty_record


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        # edit notes: on their own line, inline (tables that lost their line breaks), with markup or a number
        ("It was a stable condition.\n\nEDIT: thanks for the gold!", "It was a stable condition."),
        ("Because it was pointless. Edit: fixed a typo", "Because it was pointless."),
        ("A little horse Edit 2: my first front page", "A little horse"),
        ("A little horse *edit: spelling", "A little horse"),
        ("A pony.\nNinja edit: formatting", "A pony."),
        ("A pony. Edit1: wow", "A pony."),
        ("EDIT: formatting\n\nA man walks into a bar. Ouch.", "A man walks into a bar. Ouch."),
        ("EDIT: Thanks for the gold!", ""),
        # signatures, before or after the joke
        ("He was outstanding in his field.\n\nSource: my uncle", "He was outstanding in his field."),
        ("He was outstanding in his field.\n\n(Credit: a late-night host)", "He was outstanding in his field."),
        ("He was outstanding in his field.\n\nCredit to my grandpa.", "He was outstanding in his field."),
        ("He was outstanding in his field.\nSource", "He was outstanding in his field."),
        ("He was outstanding. Courtesy of some joke site", "He was outstanding."),
        ("Source: [url]\n\nA farmer won an award.", "A farmer won an award."),
        ("A farmer won.\n\n(x-post from /r/puns)", "A farmer won."),
        # sign-offs, with whatever follows them
        ("A bad habit.\n\nI'll see myself out.", "A bad habit."),
        ("Because he was grounded! (I'll show myself out)", "Because he was grounded!"),
        ("Lettuce in. I'll get my coat... sorry", "Lettuce in."),
        ("Lettuce in. Ba dum tss!\n\nAnyway, have a nice day", "Lettuce in."),
        ("Lettuce in. ...I'll, uh, see myself out.", "Lettuce in."),
    ],
)
def test_notes_come_off(text: str, clean: str) -> None:
    assert strip_notes(text) == clean


@pytest.mark.parametrize(
    "text",
    [
        "We heard a news update: the horse is in a stable condition.",  # "update:" inside a sentence
        "The flowers arrived, courtesy of the mafia, right on time.",  # "courtesy of" inside a sentence
        "Via Dolorosa is a street. So is Abbey Road.",  # "via" starting a line, no ":" or link
        "He said he was the source: of all evil.",  # "source:" after a plain word, lowercase
        "The [deleted] was delicious!",  # a sentinel inside a sentence is the joke
        "Sorry for the late reply, said the ghost.",
    ],
)
def test_text_that_only_looks_like_a_note_is_kept(text: str) -> None:
    assert strip_notes(text) == text


def test_a_lone_sign_off_after_a_question_is_the_punchline() -> None:
    assert signoff_only("I'll see myself out....") and not signoff_only("A pun.\nI'll see myself out.")
    assert F.last_part("What do I do in an out-of-body experience?", "i'll see myself out") == "i'll see myself out"
    assert F.last_part("A pun about a door", "I'll see myself out.") == ""


def test_title_tags_are_kept_as_tags_and_asides_dropped() -> None:
    assert strip_title_tags("[OC] What do you call a sleeping bull?") == ("What do you call a sleeping bull?", ["OC"])
    assert strip_title_tags("A bulldozer (sorry if repost) [NSFW]") == ("A bulldozer", ["NSFW"])
    assert strip_title_tags("[x-post from r/puns] A bulldozer") == ("A bulldozer", [])
    assert strip_title_tags("[OC]") == ("[OC]", [])  # only tags: a label, left to title_is_label
    assert strip_title_tags("Why (oc) not") == ("Why (oc) not", [])
    for label in ("Spoiler alert!", "http://example.com/x", "[url]", "...", "Stolen from my dad", "[OC] Pun joke"):
        assert title_is_label(strip_title_tags(label)[0]), label
    assert not title_is_label("Spoiler: the butler did it")


def test_placeholders_and_repeated_setups_are_dropped_with_a_reason() -> None:
    assert placeholder("[deleted].") == "deleted"
    assert placeholder("[ Removed by reddit on account of violating the content policy ]") == "removed"
    assert placeholder("[removed by moderator]") == "removed" and placeholder("It was [removed]") is None
    rec = empty_record() | {"answer": "[Removed]"}
    assert F.placeholder_text(rec) == DropReason.REMOVED
    rec = empty_record() | {"setup": "Were you home schooled?", "punchline": "Were You Home Schooled"}
    assert F.same_parts(rec) == DropReason.INCOMPLETE


def test_table_markup_reddit_and_html() -> None:
    rec = empty_record() | {"_raw_question": "[OC] Why **so** serious?", "_raw_answer": "Because. Edit: typo"}
    out = F.normalize_table("reddit", True)(dict(rec))
    assert (out["question"], out["answer"], out["tags"]) == ("Why so serious?", "Because.", ["OC"])
    rec = empty_record() | {"_raw_text": "- Doctor!<br/>- Next!<br>&laquo;Ouch&raquo;"}
    assert F.normalize_table("html", True)(dict(rec))["text"] == "- Doctor!\n- Next!\n«Ouch»"
    rec = empty_record() | {"_raw_text": "Use **bold** here"}
    assert F.normalize_table("plain", True)(dict(rec))["text"] == "Use **bold** here"  # plain text is as written
