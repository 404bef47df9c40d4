"""``lightgbm`` and ``lightgbm_lambdarank``: gradient-boosted trees with LightGBM.

Categorical columns go to LightGBM as pandas categoricals over the training categories, so
the trees split on them natively (no one-hot); a category unseen in training arrives as a
missing value. A held-out ``validation_fraction`` of the training rows (whole queries, for
ranking) stops boosting early. The fitted trees are saved in LightGBM's own text format,
which loads without running code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from compound.errors import require
from compound.intelligence.ml.learners.base import FitProgress, Learner, no_progress

if TYPE_CHECKING:
    import pandas as pd

MODEL_PART = "lightgbm.txt"


class LightGBMLearner(Learner):
    """LightGBM for tabular classification and regression.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from compound.intelligence.ml.params import LightGBMParams
        >>> from compound.intelligence.ml.schema import FeatureSchema
        >>> rng = np.random.default_rng(0)
        >>> rows = pd.DataFrame({"x": rng.normal(size=400)})
        >>> learner = LightGBMLearner(task="regression", params=LightGBMParams(),
        ...                           schema=FeatureSchema(("x",), {"x": "numeric"}))
        >>> learner.fit(rows, rows["x"].to_numpy() * 2)
        >>> bool(abs(learner.scores(pd.DataFrame({"x": [0.5]}))[0] - 1.0) < 0.3)
        True
    """

    name: ClassVar[str] = "lightgbm"

    def _objective(self, n_classes: int | None) -> dict[str, Any]:
        if self.task == "regression":
            return {"objective": "regression", "metric": "l2"}
        if self.task == "ranking":
            return {"objective": "lambdarank", "metric": "ndcg",
                    "eval_at": list(self.params.ndcg_at)}
        if n_classes == 2:
            return {"objective": "binary", "metric": "binary_logloss"}
        return {"objective": "multiclass", "num_class": n_classes, "metric": "multi_logloss"}

    def _holdout(self, y: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        """A boolean mask of the early-stopping rows (whole groups for ranking)."""
        rng = np.random.default_rng(self.seed)
        fraction = self.params.validation_fraction
        if groups is None:
            return rng.random(len(y)) < fraction
        unique = np.unique(groups)
        chosen = unique[rng.random(len(unique)) < fraction]
        return np.isin(groups, chosen)

    def fit(
        self,
        frame: pd.DataFrame,
        y: np.ndarray,
        *,
        n_classes: int | None = None,
        groups: np.ndarray | None = None,
        progress: FitProgress = no_progress,
    ) -> None:
        lgb: Any = require("lightgbm", extra="ml", what=f"the '{self.name}' learner")
        p = self.params
        params = {
            **self._objective(n_classes),
            "learning_rate": p.learning_rate, "num_leaves": p.num_leaves,
            "max_depth": p.max_depth,
            "min_data_in_leaf": p.min_child_samples or max(20, len(y) // 200),
            "bagging_fraction": p.subsample, "bagging_freq": 1 if p.subsample < 1 else 0,
            "feature_fraction": p.colsample_bytree, "lambda_l2": p.reg_lambda,
            "seed": self.seed, "deterministic": True, "verbosity": -1,
            "num_threads": p.threads or 0,
        }
        if groups is not None:
            order = np.argsort(groups, kind="stable")
            frame, y, groups = frame.iloc[order], y[order], groups[order]
        holdout = self._holdout(y, groups) if p.early_stopping_rounds else np.zeros(len(y), bool)
        if holdout.all() or (groups is None and len(np.unique(y[~holdout])) < 2
                             and self.task != "regression"):
            holdout[:] = False
        train = lgb.Dataset(frame[~holdout], label=y[~holdout], group=_sizes(groups, ~holdout),
                            free_raw_data=True)
        callbacks = [_progress_callback(progress, p.n_estimators)]
        valid_sets = []
        if holdout.any():
            valid_sets = [lgb.Dataset(frame[holdout], label=y[holdout],
                                      group=_sizes(groups, holdout), reference=train)]
            callbacks.append(lgb.early_stopping(p.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(params, train, num_boost_round=p.n_estimators,
                                  valid_sets=valid_sets, callbacks=callbacks)
        self.trees_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        progress(1.0, f"{self.trees_} trees")

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        raw = np.asarray(self.booster_.predict(frame, num_iteration=self.trees_))
        if self.task in ("regression", "ranking"):
            return raw
        eps = 1e-12
        if raw.ndim == 1:  # binary: probability of class 1
            raw = np.column_stack([1.0 - raw, raw])
        return np.log(np.clip(raw, eps, 1.0))

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """TreeSHAP contributions from LightGBM (``pred_contrib``), one block per class; a
        binary model's are those of class 1's log-odds, so class 0's are their negation."""
        raw = np.asarray(self.booster_.predict(frame, num_iteration=self.trees_,
                                               pred_contrib=True), dtype=float)
        width = len(self.schema.columns) + 1
        blocks = raw.reshape(len(raw), -1, width)
        if self.task not in ("regression", "ranking") and blocks.shape[1] == 1:
            blocks = np.concatenate([-blocks, blocks], axis=1)
        return blocks

    def dump(self) -> dict[str, bytes]:
        text = self.booster_.model_to_string(num_iteration=self.trees_)
        return {MODEL_PART: text.encode("utf-8")}

    def load_parts(self, parts: Mapping[str, bytes]) -> None:
        from compound.intelligence.ml.artifact import ArtifactError, part

        lgb: Any = require("lightgbm", extra="ml", what=f"the '{self.name}' learner")
        data = part(parts, MODEL_PART)
        try:
            self.booster_ = lgb.Booster(model_str=data.decode("utf-8"))
        except (lgb.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
            raise ArtifactError(f"the LightGBM model cannot be read: {exc}") from None

    def state(self) -> dict[str, Any]:
        return {"trees": self.trees_}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.trees_ = int(state.get("trees", 0)) or None  # type: ignore[assignment]


class LambdaRankLearner(LightGBMLearner):
    """LightGBM with the lambdarank objective: rows of one query are ranked together."""

    name: ClassVar[str] = "lightgbm_lambdarank"


def _sizes(groups: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
    """Sizes of consecutive runs of equal group ids among the masked rows."""
    if groups is None:
        return None
    kept = groups[mask]
    if len(kept) == 0:
        return np.array([], dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(kept[1:] != kept[:-1]) + 1, len(kept)]
    return np.diff(starts)


def _progress_callback(progress: FitProgress, total: int) -> Any:
    def callback(env: Any) -> None:
        done = env.iteration + 1
        if done % 10 == 0 or done == total:
            progress(done / total, f"tree {done}")

    callback.order = 30  # type: ignore[attr-defined]
    return callback
