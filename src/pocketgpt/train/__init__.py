"""Pretraining and the shared training loop.

- :mod:`.config`: ``TrainConfig``, ``PRESETS``, ``build_config`` (TOML + overrides)
- :mod:`.optim`: AdamW / Muon and the LR schedule
- :mod:`.checkpoint`: atomic checkpoints, retention, ``load_checkpoint``
- :mod:`.distributed`: torchrun setup, DDP / FSDP2
- :mod:`.trainer`: the ``Trainer`` (pluggable batch source and eval function)
- :mod:`.pretrain`: ``run_pretraining``, the ``pocketgpt pretrain`` command as a function
"""

from pocketgpt.train.checkpoint import load_checkpoint
from pocketgpt.train.config import PRESETS, TrainConfig, build_config
from pocketgpt.train.trainer import Trainer, TrainingDiverged, TrainResult

__all__ = ["PRESETS", "TrainConfig", "Trainer", "TrainResult", "TrainingDiverged", "build_config", "load_checkpoint"]
