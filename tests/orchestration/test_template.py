"""The one template language: fields, escapes, safe by construction, deliberate rendering."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compound.intelligence.ml.types import Prediction
from compound.orchestration.context import ContextBuilder, Passage
from compound.orchestration.context import template as template_module
from compound.orchestration.context.template import (
    MissingField,
    Template,
    TemplateError,
    TemplateValueError,
    as_prompt_text,
    renderable,
)
from compound.orchestration.retrieval.types import Hit, SearchResult


def found() -> SearchResult:
    return SearchResult("why purr?", [
        Hit("cats#0", "cats", "Cats purr when they are content.", 2.0, title="Cats",
            source="pages/cats.md"),
        Hit("dogs#1", "dogs", "Dogs bark at strangers.", 1.0, title="Dogs"),
    ])


def test_fields_escapes_and_dotted_keys_of_plain_data() -> None:
    template = Template.parse('{{"q": "{question}"}} {meta.lang} {question}')
    assert template.fields == ("question", "meta")
    text = template.render({"question": "Why?", "meta": {"lang": "en"}})
    assert text == '{"q": "Why?"} en Why?'


@pytest.mark.parametrize(("source", "says"), [
    ("{x[0]}", "indexes a value"),
    ("{x!r}", "conversion or format spec"),
    ("{x:>99999999}", "conversion or format spec"),
    ("{}", "an empty field"),
    ("{0}", "is not a field"),
    ("Answer as JSON {\"a\": 1}", "is not a field"),
    ("open { never closed", "not closed"),
    ("a } alone", "a single '}'"),
    ("{ question }", "is not a field"),
])
def test_anything_but_a_field_is_a_syntax_error_with_its_position(source: str, says: str
                                                                  ) -> None:
    with pytest.raises(TemplateError, match="column") as error:
        Template.parse(source, where="step 'draft' template")
    assert says in str(error.value) and "step 'draft' template" in str(error.value)
    assert "'{{'" in str(error.value)  # says how to write a literal brace


def test_positions_count_lines() -> None:
    with pytest.raises(TemplateError, match=r"line 2, column 5"):
        Template.parse("ok {a}\nbad {b!s}")


def test_no_attribute_access_into_objects() -> None:
    with pytest.raises(TemplateValueError, match="not a mapping"):
        Template.parse("{x.__class__}").render({"x": "text"})
    with pytest.raises(TemplateValueError, match="not a mapping"):
        Template.parse("{p.label}").render({"p": Prediction(label="a", probability=0.9)})
    with pytest.raises(MissingField, match="has no key '__class__'"):
        Template.parse("{x.__class__}").render({"x": {"a": 1}})


def test_a_missing_field_names_what_was_given() -> None:
    with pytest.raises(MissingField, match=r"'{questoin}'.*did you mean 'question'.*question"):
        Template.parse("{questoin}").render({"question": "q"})


def test_values_render_deliberately_never_as_a_repr() -> None:
    assert as_prompt_text(None) == "" and as_prompt_text(3) == "3"
    assert as_prompt_text({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert as_prompt_text([{"title": "A", "text": "x"}, "y"]) == "A: x\n\ny"
    with pytest.raises(TemplateValueError, match=r"received a Prediction.*label, probability"):
        Template.parse("Intent: {intent}").render({"intent": Prediction("a", 0.9)})
    with pytest.raises(TemplateValueError, match="received a Prediction"):
        as_prompt_text({"nested": Prediction("a", 0.9)})


def test_retrieved_passages_render_numbered_with_their_citations() -> None:
    rendered = Template.parse("Sources:\n{found}\nQ: {q}").render_cited(
        {"found": found(), "q": "Why do cats purr?"})
    assert "[1] Cats — pages/cats.md\nCats purr when they are content." in rendered.text
    assert "[2] Dogs\nDogs bark at strangers." in rendered.text
    assert "SearchResult(" not in rendered.text and "Hit(" not in rendered.text
    assert [(c.number, c.id, c.doc_id) for c in rendered.citations] == [
        (1, "cats#0", "cats"), (2, "dogs#1", "dogs")]
    assert rendered.passages[0] == "Cats purr when they are content."
    hits = Template.parse("{hits}").render_cited({"hits": found().hits})
    assert hits.text.startswith("[1] Cats") and len(hits.citations) == 2


def test_a_built_context_renders_as_its_text_and_keeps_its_citations() -> None:
    context = ContextBuilder(budget=40).run(
        question="Why?", passages=[Passage("a#0", "Cats purr. " * 3, 2.0, doc_id="a"),
                                   Passage("b#0", "Long text. " * 50, 1.0)])
    rendered = Template.parse("{context}\nAnswer:").render_cited({"context": context})
    assert rendered.text == context.text + "\nAnswer:"
    assert [(c.number, c.id, c.doc_id) for c in rendered.citations] == [(1, "a#0", "a")]


def test_renderable_types_are_known_before_anything_runs() -> None:
    for ok in (str, int, float | None, dict[str, int], list[str], SearchResult, list[Hit],
               Passage):
        assert renderable(ok) is None, ok
    assert "Prediction" in (renderable(Prediction) or "")
    assert "label" in (renderable(Prediction | None) or "")
    assert renderable(list[Prediction]) is not None


def text_without_braces() -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_escaped_renders_back_to_itself(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert Template.parse(escaped).render({}) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}ab.!:[]0 _", max_size=30), text_without_braces())
def test_any_template_parses_or_fails_with_a_template_error(source: str, value: str) -> None:
    try:
        template = Template.parse(source)
    except TemplateError:
        return
    values = {name: {"b": value, "a": value} for name in template.fields}
    try:
        out = template.render(values)
    except MissingField:
        return
    assert "object at 0x" not in out


def test_module_examples_run() -> None:
    from compound.orchestration.context import template_checks
    from compound.workflow.kinds import context as step

    for module in (template_module, step, template_checks):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0, module
