"""Process-group setup for torchrun, device choice, and DDP / FSDP2 wrapping.

Under ``torchrun`` the environment carries RANK, WORLD_SIZE and LOCAL_RANK; the
backend is NCCL on CUDA and gloo on CPU. Without them we run as one process.

>>> info = DistInfo()
>>> info.is_main, info.world_size
(True, 1)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pocketgpt.errors import UserError


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(pref: str = "auto", local_rank: int = 0) -> torch.device:
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device {pref!r}: CUDA is not available on this machine; use device=cpu")
        return torch.device("cuda", local_rank) if pref == "cuda" else torch.device(pref)
    if pref != "cpu":
        raise UserError(f"device {pref!r}: expected auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


def setup_distributed(device_pref: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one; pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_pref, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    info = DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
        info.initialized_here = True
    return info


def teardown_distributed(info: DistInfo) -> None:
    if info.initialized_here and dist.is_initialized():
        # gloo's worker threads free each finished collective themselves, and freeing a
        # Python-owned tensor needs the GIL. If this thread then drops the DDP model (whose
        # destructor joins those workers) while holding the GIL, both wait forever; seen
        # under load as a rank hanging at exit. So: finish all work, then let the workers
        # run (sleep releases the GIL) before anything is torn down.
        dist.barrier()
        time.sleep(0.25)
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, info: DistInfo, fsdp: bool = False) -> torch.nn.Module:
    """DDP across ranks, or FSDP2 (``fully_shard`` per block, then the root)."""
    if fsdp:
        if not info.distributed:
            return model
        from torch.distributed.fsdp import fully_shard

        for block in model.h:
            fully_shard(block)
        fully_shard(model)
        return model
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[info.local_rank] if info.device.type == "cuda" else None)
    return model


def all_reduce_(t: torch.Tensor, op=None) -> torch.Tensor:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()
