from textkit.slug import slugify


def test_slugify_joins_lowercase_words():
    assert slugify("Hello, World!") == "hello-world"


def test_slugify_separator():
    assert slugify("  Tea for Two ", sep="_") == "tea_for_two"
