from __future__ import annotations

import pytest

from jokemine.cleaning.notes import strip_edit_trailer
from jokemine.cleaning.text import (
    fix_text,
    key_hash,
    markdown_to_text,
    normalize_key,
    reddit_text,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("I **love** [this](http://x.com/a_(b)) and *it*", "I love this and it"),
        ("~~no~~ ^super ^(two words) and `code`", "no super two words and code"),
        ("\\*not italic\\* and snake_case_name and 2*3*4", "*not italic* and snake_case_name and 2*3*4"),
        ("&gt; a quote\n\n# Heading\n\n***\n\nText &amp; more", "a quote\n\nHeading\n\nText & more"),
        ("__bold__ and _it_ ***both***", "bold and it both"),
        ("A **boo**berry muffin and **decaf**alon", "A booberry muffin and decafalon"),
        ("the [mace](http://en.wikipedia.org/wiki/Mace_(spray\\)) joke", "the mace joke"),
        ("###An orthodox priest\n#1 fan", "An orthodox priest\n#1 fan"),
        ("&#x200B;\n\nHi&nbsp;there", "Hi there"),
        ("Plain text, nothing to do.", "Plain text, nothing to do."),
    ],
)
def test_reddit_markdown_and_entities(raw: str, clean: str) -> None:
    assert reddit_text(raw) == clean


def test_markdown_fast_path_returns_input() -> None:
    s = "No markdown here at all"
    assert markdown_to_text(s) is s


def test_fix_text_mojibake_line_breaks_and_spaces() -> None:
    assert fix_text("cafÃ©  crÃ¨me\u2028next line\r\n\r\n\r\n\r\nend  ") == "café crème\nnext line\n\nend"
    assert fix_text("“curly” quotes\u200b") == '"curly" quotes'
    assert fix_text(None) == ""


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ("Joke here.\n\nEdit: thanks for the gold!\n\nEDIT 2: wow", "Joke here."),
        ("Joke.\n**Edit**: formatting", "Joke."),
        ("Joke.\n\nETA: it's a repost, sorry", "Joke."),
        ("Joke.\n\nUpdate - my wife laughed", "Joke."),
        ("Edit: the whole post is an edit", "Edit: the whole post is an edit"),
        ("Edit: changed the title\n\nThe actual joke.\n\nEdit 2: thanks", "The actual joke."),
        ("I asked the editor: what?", "I asked the editor: what?"),
        ("He said edit: nothing", "He said edit: nothing"),
    ],
)
def test_edit_trailers(body: str, kept: str) -> None:
    assert strip_edit_trailer(body) == kept


def test_keys_ignore_case_punctuation_and_whitespace() -> None:
    assert normalize_key("What do you call... a   FISH?!") == "whatdoyoucallafish"
    assert key_hash("What do you call a fish") == key_hash("what do you call... a FISH?!")
    assert key_hash("What do you call a fish") != key_hash("What do you call a dish")
    assert normalize_key("Ёлки-палки!") == "ёлкипалки"
    assert normalize_key("?!") == "?!"  # nothing alphanumeric: the text itself
