from textkit.words import content_words, words


def test_words_lowercases_and_splits_on_punctuation():
    assert words("Hello, World! 42") == ["hello", "world", "42"]


def test_content_words_drop_stop_words():
    assert content_words("The cat and the hat") == ["cat", "hat"]
