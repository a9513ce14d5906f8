"""The stages of every round: round 0, then the error-driven rounds of LLM2LLM, all from the same builders.

Round r (1..rounds.max_rounds) is the round-0 chain built with `r`, each table suffixed `_r<r>`:
student_errors_r (+ active_pool_r, + mixture_r) → expansions_r → (judgements_r) → filtered_r → train_set_r
(previous train set + accepted rows) → student_checkpoint_r → eval_scores_r / eval_predictions_r.
Every row records its round, and the catalog's `error_lineage` view joins a round's training rows
to the student error that caused them. A behaviour added to a stage's builder appears in every round.
"""

from synth_assets.assets.active_pool import build_active_pool
from synth_assets.assets.common import Build
from synth_assets.assets.evaluation import build_evaluation
from synth_assets.assets.expansions import build_expansions
from synth_assets.assets.filtered import build_filtered
from synth_assets.assets.judgements import build_judgements
from synth_assets.assets.mixture import build_mixture
from synth_assets.assets.student import build_student
from synth_assets.assets.student_errors import build_student_errors
from synth_assets.assets.train_set import build_train_set


def round_assets(b: Build, r: int) -> list:
    """Every asset of round r: what picks its seeds (rounds only), then the same five stages."""
    rounds = b.spec.rounds
    picks = [] if r == 0 else [build_student_errors(b, r), *([build_active_pool(b, r)] if rounds.active.pool_rows > 0 else []),
                               *([build_mixture(b, r)] if rounds.mixture is not None else [])]
    return [*picks, build_expansions(b, r), *build_judgements(b, r), build_filtered(b, r), build_train_set(b, r),
            build_student(b, r), build_evaluation(b, r)]


def build_rounds(b: Build) -> list:
    """Every stage asset of round 0 and of each configured round."""
    return [a for r in b.rounds for a in round_assets(b, r)]
