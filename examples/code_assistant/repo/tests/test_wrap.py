from textkit.wrap import initials, wrap


def test_wrap_breaks_between_words():
    assert wrap("the quick brown fox", 10) == ["the quick", "brown fox"]


def test_initials():
    assert initials("portable network graphics") == "PNG"
