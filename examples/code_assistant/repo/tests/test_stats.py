from textkit.stats import top_words, word_counts


def test_word_counts():
    assert word_counts("a cat, a cat and a dog") == {"cat": 2, "dog": 1}


def test_top_words_breaks_ties_alphabetically():
    assert top_words("b a c b a", 2) == [("a", 2), ("b", 2)]
