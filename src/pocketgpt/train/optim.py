"""Optimizers and the learning-rate schedule.

AdamW decays 2-D weights only (matmuls and embeddings), never norms or biases.
With ``optimizer="muon"``, ``torch.optim.Muon`` takes the hidden 2-D weights (the
transformer blocks' matmuls) and AdamW the embeddings, LM head, norms and biases.

>>> round(lr_multiplier(0.0, warmup_frac=0.1, min_lr_frac=0.1), 3)
0.0
>>> lr_multiplier(0.1, warmup_frac=0.1, min_lr_frac=0.1)
1.0
>>> round(lr_multiplier(1.0, warmup_frac=0.1, min_lr_frac=0.1), 3)
0.1
"""

from __future__ import annotations

import math

import torch


def lr_multiplier(progress: float, *, warmup_frac: float, min_lr_frac: float,
                  schedule: str = "cosine", decay_frac: float = 0.2) -> float:
    """LR as a fraction of peak at ``progress`` in [0, 1] of the run.

    Linear warmup, then cosine down to ``min_lr_frac`` ("cosine"), or flat until
    the last ``decay_frac`` and then linear down to ``min_lr_frac`` ("wsd").
    """
    p = min(max(progress, 0.0), 1.0)
    if warmup_frac > 0 and p < warmup_frac:
        return p / warmup_frac
    if schedule == "wsd":
        start = 1.0 - decay_frac
        if p <= start or decay_frac == 0:
            return 1.0
        return 1.0 - (1.0 - min_lr_frac) * (p - start) / decay_frac
    frac = (p - warmup_frac) / max(1e-12, 1.0 - warmup_frac)
    return min_lr_frac + (1.0 - min_lr_frac) * 0.5 * (1.0 + math.cos(math.pi * frac))


class OptimizerGroup:
    """Several optimizers stepped as one (Muon + AdamW), with one state dict."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]):
        self.optimizers = optimizers

    @property
    def param_groups(self):
        return [g for o in self.optimizers for g in o.param_groups]

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        states = state["optimizers"]
        if len(states) != len(self.optimizers):
            raise ValueError(f"optimizer state has {len(states)} optimizers, expected {len(self.optimizers)}")
        for o, s in zip(self.optimizers, states):
            o.load_state_dict(s)


def build_optimizer(model: torch.nn.Module, cfg, device_type: str) -> OptimizerGroup:
    """AdamW (fused where supported), optionally with Muon for hidden 2-D weights.

    Every param group records its peak LR as ``base_lr``; :func:`set_lr` scales it.
    """
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    hidden = [p for n, p in params if p.dim() == 2 and ".h." in f".{n}"] if cfg.optimizer == "muon" else []
    hidden_ids = {id(p) for p in hidden}
    decay = [p for n, p in params if p.dim() >= 2 and id(p) not in hidden_ids]
    no_decay = [p for n, p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay, "base_lr": cfg.lr},
        {"params": no_decay, "weight_decay": 0.0, "base_lr": cfg.lr},
    ]
    # Fused AdamW needs every parameter on one supported device type; DTensor
    # parameters (FSDP2) work with the foreach path instead.
    fused = device_type in ("cuda", "cpu") and not cfg.fsdp
    adamw = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8, fused=fused or None)
    optimizers: list[torch.optim.Optimizer] = [adamw]
    if hidden:
        muon = torch.optim.Muon(hidden, lr=cfg.muon_lr, weight_decay=cfg.weight_decay, momentum=cfg.muon_momentum)
        for g in muon.param_groups:
            g["base_lr"] = cfg.muon_lr
        optimizers.append(muon)
    return OptimizerGroup(optimizers)


def set_lr(optimizer: OptimizerGroup, multiplier: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = g["base_lr"] * multiplier
