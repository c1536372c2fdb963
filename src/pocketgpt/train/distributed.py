"""Process-group setup for torchrun, device choice, and DDP / FSDP2 wrapping.

Under ``torchrun`` the environment carries RANK, WORLD_SIZE and LOCAL_RANK; the
backend is NCCL on CUDA and gloo on CPU. Without them we run as one process.
:func:`pick_device` is where every command's ``--device`` is resolved (CPU, CUDA or
Apple's MPS).

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


def mps_status() -> tuple[bool, bool]:
    """``(is_available, is_built)`` of torch's MPS backend (Apple Silicon GPUs): the one
    place that asks, so tests can monkeypatch it. Old torch builds lack ``backends.mps``."""
    mps = getattr(torch.backends, "mps", None)
    if mps is None:
        return False, False
    return bool(mps.is_available()), bool(mps.is_built())


def pick_device(pref: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """Resolve ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` to an available device.

    Every command's ``--device`` comes through here (training via
    :func:`setup_distributed`, loading via :func:`pocketgpt.train.load_checkpoint`).
    ``auto`` takes CUDA, then MPS, then the CPU. A device that is absent is a
    :class:`UserError` saying what torch reports.

    >>> pick_device("cpu")
    device(type='cpu')
    >>> pick_device("tpu")
    Traceback (most recent call last):
    ...
    pocketgpt.errors.UserError: device 'tpu': expected auto, cpu, cuda, cuda:N or mps
    """
    pref = str(pref or "auto")
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "mps" if mps_status()[0] else "cpu"
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device {pref!r}: CUDA is not available on this machine (torch.cuda.is_available() "
                            f"is False; torch {torch.__version__}, built for CUDA {torch.version.cuda}); use "
                            "device=cpu or auto")
        return torch.device("cuda", local_rank) if pref == "cuda" else torch.device(pref)
    if pref == "mps":
        available, built = mps_status()
        if not available:
            why = ("this PyTorch build has no MPS support (torch.backends.mps.is_built() is False)" if not built else
                   "torch.backends.mps.is_available() is False (MPS needs an Apple Silicon Mac with macOS 12.3 or "
                   "later)")
            raise UserError(f"device 'mps': the Apple Silicon GPU is not available: {why}; torch "
                            f"{torch.__version__}. Use device=cpu or auto")
        return torch.device("mps")
    if pref != "cpu":
        raise UserError(f"device {pref!r}: expected auto, cpu, cuda, cuda:N or mps")
    return torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (for timing); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def setup_distributed(device_pref: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one; pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_pref, local_rank)
    if world > 1 and device.type == "mps":  # one Apple GPU per machine, and gloo does not take MPS tensors
        raise UserError("device 'mps': torchrun with several processes is not supported on MPS; run one process")
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
