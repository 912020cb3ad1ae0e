"""Training: the one loop every method uses, the stages that configure it, and what keeps a fit safe.

- :mod:`skrcd.training.loop`: :func:`run_stage` and :class:`StageNet` (each stage
  as one skorch fit: epochs, paired source/target mini-batches, history, skorch's
  callbacks, Ctrl-C) and :class:`FitContext` (what the stage hooks of one fit share);
- :mod:`skrcd.training.stages`: what one step of each stage does (DANN teacher,
  source-only, distillation);
- :mod:`skrcd.training.adaptation`: the other teacher objectives (VADA, DIRT-T's
  refinement, CDAN+E);
- :mod:`skrcd.training.averaging`: running averages of a network's weights
  (the teacher's SWA, the student's EMA);
- :mod:`skrcd.training.teacher_cache`: the frozen teacher's outputs and
  MC-dropout statistics, cached or recomputed;
- :mod:`skrcd.training.interrupt`: graceful Ctrl-C;
- :mod:`skrcd.training.checkpoints`: checkpoints and resuming;
- :mod:`skrcd.training.callbacks`: the progress bar and the target entropy score.
"""

from .adaptation import (
    TEACHER_OBJECTIVES,
    CDANStage,
    RefinementStage,
    TeacherObjective,
    TemporalMixupStage,
    VADAStage,
    register_teacher_objective,
)
from .averaging import WeightAverage
from .callbacks import EpochProgressBar, TargetEntropy
from .checkpoints import CHECKPOINT_FILE, CheckpointCallback, FitCheckpoints
from .interrupt import FitInterruptedWarning, TrainingInterrupted, deferred_sigint
from .loop import FitContext, StageNet, StepBatch, run_stage
from .stages import (
    CoralDistillationStage,
    DANNStage,
    DistillationStage,
    DomainTensors,
    SourceDistillationStage,
    SourceOnlyStage,
    TrainingStage,
    source_cross_entropy,
)
from .teacher_cache import TeacherOutputs, mc_dropout_mode

__all__ = [
    "DomainTensors",
    "TrainingStage",
    "DANNStage",
    "SourceOnlyStage",
    "DistillationStage",
    "SourceDistillationStage",
    "CoralDistillationStage",
    "VADAStage",
    "RefinementStage",
    "CDANStage",
    "TEACHER_OBJECTIVES",
    "TeacherObjective",
    "TemporalMixupStage",
    "register_teacher_objective",
    "TeacherOutputs",
    "WeightAverage",
    "run_stage",
    "StageNet",
    "StepBatch",
    "source_cross_entropy",
    "mc_dropout_mode",
    "FitContext",
    "FitCheckpoints",
    "CheckpointCallback",
    "CHECKPOINT_FILE",
    "TrainingInterrupted",
    "FitInterruptedWarning",
    "deferred_sigint",
    "EpochProgressBar",
    "TargetEntropy",
]
