"""``tfidf_linear``: TF-IDF word and character n-grams, optionally sentence embeddings, and a
linear model (a linear SVM by default, or logistic regression).

Word n-grams catch the phrases that name an intent; character n-grams inside word boundaries
catch misspellings and word forms. When the predictor names an ``embedder``, its unit-length
sentence vectors, scaled by ``embedding_weight``, join the sparse n-gram features: the linear
model then sees paraphrases the n-grams miss. Several text features are joined with a newline
into one document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from compound.intelligence.ml.learners.base import FitProgress, Learner, no_progress

if TYPE_CHECKING:
    import pandas as pd
    from scipy import sparse


class TextLinearLearner(Learner):
    """TF-IDF n-grams (+ embeddings) and a linear classifier.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from compound.intelligence.ml.params import TextLinearParams
        >>> from compound.intelligence.ml.schema import FeatureSchema
        >>> learner = TextLinearLearner(task="text_classification", params=TextLinearParams(),
        ...     schema=FeatureSchema(("text",), {"text": "text"}))
        >>> rows = pd.DataFrame({"text": ["card lost", "lost my card", "top up", "add money"]})
        >>> learner.fit(rows, np.array([0, 0, 1, 1]), n_classes=2)
        >>> learner.scores(pd.DataFrame({"text": ["card was lost"]})).argmax(axis=1).tolist()
        [0]
    """

    name: ClassVar[str] = "tfidf_linear"

    def _documents(self, frame: pd.DataFrame) -> list[str]:
        columns = [c for c in self.schema.columns if self.schema.kinds[c] == "text"]
        if len(columns) == 1:
            return list(frame[columns[0]])
        return ["\n".join(parts) for parts in zip(*(frame[c] for c in columns), strict=True)]

    def _vectorizers(self) -> list[Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        p = self.params
        found = [TfidfVectorizer(ngram_range=tuple(p.word_ngrams), min_df=p.word_min_df,
                                 sublinear_tf=p.sublinear_tf, max_features=p.max_features,
                                 dtype=np.float32)]
        if p.char_ngrams is not None:
            found.append(TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(p.char_ngrams),
                                         min_df=p.char_min_df, sublinear_tf=p.sublinear_tf,
                                         max_features=p.max_features, dtype=np.float32))
        return found

    def _features(self, documents: list[str], *, fit: bool) -> sparse.csr_matrix:
        from scipy import sparse

        blocks = [v.fit_transform(documents) if fit else v.transform(documents)
                  for v in self.vectorizers_]
        if self.embedder is not None:
            vectors = self.embedder.embed(documents) * self.params.embedding_weight
            blocks.append(sparse.csr_matrix(vectors))
        return sparse.hstack(blocks, format="csr")

    def fit(
        self,
        frame: pd.DataFrame,
        y: np.ndarray,
        *,
        n_classes: int | None = None,
        groups: np.ndarray | None = None,
        progress: FitProgress = no_progress,
    ) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        documents = self._documents(frame)
        self.vectorizers_ = self._vectorizers()
        progress(0.05, "n-grams" + (" and embeddings" if self.embedder else ""))
        features = self._features(documents, fit=True)
        progress(0.5, f"{self.params.model} on {features.shape[1]:,} features")
        p = self.params
        if p.model == "svm":
            self.model_ = LinearSVC(C=p.C, class_weight=p.class_weight, max_iter=p.max_iter,
                                    random_state=self.seed)
        else:
            self.model_ = LogisticRegression(C=p.C, class_weight=p.class_weight,
                                             max_iter=p.max_iter, random_state=self.seed)
        self.model_.fit(features, y)
        progress(1.0, "fitted")

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        features = self._features(self._documents(frame), fit=False)
        if self.params.model == "logistic":
            return np.asarray(self.model_.predict_log_proba(features))
        margins = np.asarray(self.model_.decision_function(features))
        if margins.ndim == 1:  # binary: softmax of (-d/2, d/2) is the sigmoid of d
            margins = np.column_stack([-margins / 2, margins / 2])
        return margins

    def dump(self) -> dict[str, bytes]:
        from compound.intelligence.ml.artifact import skops_dumps

        return {"text_linear.skops": skops_dumps(
            {"vectorizers": self.vectorizers_, "model": self.model_}
        )}

    def load_parts(self, parts: Mapping[str, bytes]) -> None:
        from compound.intelligence.ml.artifact import part, skops_loads

        state = skops_loads(part(parts, "text_linear.skops"), what="the text model")
        self.vectorizers_, self.model_ = state["vectorizers"], state["model"]
