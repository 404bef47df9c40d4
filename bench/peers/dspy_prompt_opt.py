"""DSPy's BootstrapFewShot on one task, for bench/prompt_opt.py: run from bench/.peers-venv.

Reads a JSON job on stdin: ``api_base`` (an OpenAI-compatible server: llama.cpp's, through the
bench's counting proxy), ``model``, ``system`` (the instructions), ``train`` rows
(``request``, ``answer``), ``heldout`` rows (``id``, ``request``), ``max_demos``,
``max_tokens``. Compiles ``dspy.Predict("request -> answer")`` with BootstrapFewShot on the
train rows (a demo is kept when its answer's token F1 with the reference is at least 0.5,
SQuAD-style words), then answers the held-out rows with the compiled program. Prints JSON:
the answers by id, the demos kept, errors, seconds. The bench scores the answers with
compound's metric, so both sides are scored by the same code.
"""

from __future__ import annotations

import collections
import json
import re
import string
import sys
import time


def _words(text: str) -> list[str]:
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def f1(prediction: str, reference: str) -> float:
    ours, theirs = _words(prediction), _words(reference)
    common = sum((collections.Counter(ours) & collections.Counter(theirs)).values())
    if not ours or not theirs or not common:
        return 0.0
    precision, recall = common / len(ours), common / len(theirs)
    return 2 * precision * recall / (precision + recall)


def main() -> int:
    import dspy

    job = json.load(sys.stdin)
    lm = dspy.LM(f"openai/{job['model']}", api_base=job["api_base"], api_key="none",
                 cache=False, temperature=0.0, max_tokens=job["max_tokens"], num_retries=0)
    dspy.configure(lm=lm)
    signature = dspy.Signature("request -> answer", job["system"])
    program = dspy.Predict(signature)
    train = [dspy.Example(request=r["request"], answer=r["answer"]).with_inputs("request")
             for r in job["train"]]

    def metric(example: dspy.Example, prediction: dspy.Prediction, trace: object = None
               ) -> float | bool:
        score = f1(str(getattr(prediction, "answer", "") or ""), example.answer)
        return score >= 0.5 if trace is not None else score

    started = time.perf_counter()
    optimiser = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=job["max_demos"],
                                      max_labeled_demos=job["max_demos"], max_rounds=1,
                                      max_errors=len(train) + 1)
    compiled = optimiser.compile(program, trainset=train)
    compile_s = time.perf_counter() - started
    answers, errors = {}, {}
    for row in job["heldout"]:
        try:
            answers[row["id"]] = str(compiled(request=row["request"]).answer or "")
        except Exception as exc:  # a parse failure of the tiny model's output: scored empty
            answers[row["id"]] = ""
            errors[row["id"]] = f"{type(exc).__name__}: {str(exc)[:200]}"
    demos = [{"request": d.get("request", "")[:80], "answer": d.get("answer", "")}
             for d in compiled.demos]
    print(json.dumps({"answers": answers, "errors": errors, "demos": demos,
                      "compile_s": round(compile_s, 1),
                      "seconds": round(time.perf_counter() - started, 1),
                      "dspy": dspy.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
