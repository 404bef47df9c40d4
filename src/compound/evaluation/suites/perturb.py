"""Seeded, deterministic perturbations of text for invariance tests.

* ``typos``: about one word in ten (at least one) gets a swapped, dropped or doubled letter;
* ``casing``: all lower case (all upper when it already is);
* ``paraphrase``: the request wrapped in a different phrasing ("Could you tell me: ...").
  These are surface rewrites from fixed templates, not a model's paraphrases;
* ``whitespace``: doubled spaces and a trailing newline.

Example:
    >>> perturb("What is the capital of France?", "casing", seed=0)
    'what is the capital of france?'
    >>> text = "What is the capital of France?"
    >>> perturb(text, "typos", seed=1) != text
    True
"""

from __future__ import annotations

import random

from compound.orchestration.context.template import Template

PARAPHRASE_TEMPLATES = (
    "Could you tell me: {text}",
    "{text} Please answer.",
    "I would like to know the following. {text}",
    "Question for you: {text}",
)


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def perturb(text: str, kind: str, *, seed: int = 0) -> str:
    """``text`` perturbed by ``kind`` (typos, casing, paraphrase, whitespace).

    Raises:
        ValueError: an unknown kind.
    """
    rng = random.Random(f"{seed}:{kind}:{text}")
    if kind == "typos":
        words = text.split(" ")
        candidates = [i for i, w in enumerate(words) if len(w) > 3 and w.isalpha()]
        if not candidates:
            return text
        count = max(1, len(candidates) // 10)
        for i in rng.sample(candidates, count):
            words[i] = _typo(words[i], rng)
        return " ".join(words)
    if kind == "casing":
        return text.upper() if text == text.lower() else text.lower()
    if kind == "paraphrase":
        return Template.parse(rng.choice(PARAPHRASE_TEMPLATES)).render({"text": text.strip()})
    if kind == "whitespace":
        return "  ".join(text.split(" ")) + "\n"
    raise ValueError(f"unknown perturbation '{kind}'; expected typos, casing, paraphrase or "
                     "whitespace")
