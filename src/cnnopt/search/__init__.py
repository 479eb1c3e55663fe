"""Search for the best recipe: Optuna study over a recipe space, Pareto front, recommendation.

`optimize(model, train_data, val_data, constraints=..., budget=...) -> Result` is the entry
point; the CLI's `cnnopt optimize` calls it.
"""

from cnnopt.search.budget import Budget
from cnnopt.search.evaluate_candidate import Target
from cnnopt.search.optimize import Result, optimize
from cnnopt.search.pareto import KNEE_METHOD, knee_point, pareto_front
from cnnopt.search.robustness import RobustnessSettings
from cnnopt.search.select import Constraints, recommend
from cnnopt.search.space import CandidateSpec, SearchSpace

__all__ = [
    "KNEE_METHOD",
    "Budget",
    "CandidateSpec",
    "Constraints",
    "Result",
    "RobustnessSettings",
    "SearchSpace",
    "Target",
    "knee_point",
    "optimize",
    "pareto_front",
    "recommend",
]
