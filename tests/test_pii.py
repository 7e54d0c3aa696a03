"""PII scrubbing: each kind on its own, numbers that are not phone numbers, and real r/Jokes posts."""

from __future__ import annotations

from pathlib import Path

from jokemine.cleaning.pii import scrub_pii


def test_each_kind_is_replaced_and_counted() -> None:
    text = (
        "Mail joe.doe+x@example.co.uk, see https://www.reddit.com/r/Jokes/comments/abc/. Thanks u/funny_guy and @jack!"
    )
    out, counts = scrub_pii(text)
    assert out == "Mail [email], see [url]. Thanks [user] and [user]!"
    assert counts == {"email": 1, "url": 1, "user": 1, "handle": 1}
    out, counts = scrub_pii("Звоните +7 (495) 123-45-67, сайт www.anekdot.ru.", "ru")
    assert (out, counts) == ("Звоните [phone], сайт [url].", {"phone": 1, "url": 1})
    assert scrub_pii("Call (212) 736-5000 now")[0] == "Call [phone] now"


def test_numbers_that_are_not_phone_numbers_stay() -> None:
    for text in [
        "In 1924, 1925, 1926 it cost 3000 dollars.",
        "The cube root of 666 is 8.7328917415",
        "Lazy People Fact #5812672793",
        "Jenny's number is 555-0199 (fictional)",
        "The counter said 4 319 842 003.666",
        "Price: $1,234,567.00",
    ]:
        assert scrub_pii(text) == (text, {}), text


def test_real_post_with_phone_and_url(real: Path) -> None:
    # r/Punny 1qeq7p, a fake press release: "Cat Lady / 310-867-5309", "please send to <e-mail>", "www .site.com"
    import io
    import json

    import zstandard

    from jokemine.cleaning.text import reddit_text

    with (real / "kampta-reddit-jokes" / "r_Punny_submissions.ndjson.zst").open("rb") as f:
        for line in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8"):
            if '"1qeq7p"' in line:
                post = json.loads(line)
                break
        else:
            raise AssertionError("post 1qeq7p not in the r/Punny dump")
    out, counts = scrub_pii(reddit_text(post["selftext"]))
    assert counts == {"phone": 1, "email": 1}
    assert "Cat Lady\n[phone]\n" in out and "Any other questions please send to [email]\n" in out
    assert "www .ithinkiamalone.com" in out  # a host broken by a space is not a link: left as written
