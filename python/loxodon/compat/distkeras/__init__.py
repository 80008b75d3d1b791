"""dist-keras (CERN) front end: its trainers, transformers, predictor and
evaluator under the same names and arguments, on Loxodon's engine. Code
written for dist-keras changes its imports only (``distkeras.trainers`` ->
``loxodon.compat.distkeras.trainers``, or everything from here);
docs/compat/distkeras.md lists the mapping and every difference."""

from loxodon.compat.distkeras.evaluators import AccuracyEvaluator, Evaluator
from loxodon.compat.distkeras.predictors import ModelPredictor, Predictor
from loxodon.compat.distkeras.trainers import (
    ADAG,
    AEASGD,
    DOWNPOUR,
    EAMSGD,
    EASGD,
    AsynchronousDistributedTrainer,
    AsynchronousEASGD,
    AveragingTrainer,
    DistributedTrainer,
    DynSGD,
    EnsembleTrainer,
    SingleTrainer,
    Trainer,
)
from loxodon.compat.distkeras.transformers import (
    DenseTransformer,
    LabelIndexTransformer,
    MinMaxTransformer,
    OneHotTransformer,
    ReshapeTransformer,
)

__all__ = [
    "ADAG",
    "AEASGD",
    "DOWNPOUR",
    "EAMSGD",
    "EASGD",
    "AccuracyEvaluator",
    "AsynchronousDistributedTrainer",
    "AsynchronousEASGD",
    "AveragingTrainer",
    "DenseTransformer",
    "DistributedTrainer",
    "DynSGD",
    "EnsembleTrainer",
    "Evaluator",
    "LabelIndexTransformer",
    "MinMaxTransformer",
    "ModelPredictor",
    "OneHotTransformer",
    "Predictor",
    "ReshapeTransformer",
    "SingleTrainer",
    "Trainer",
]
