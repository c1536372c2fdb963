"""Device and dtype choice (``pick_device``, ``choose_dtype``) with torch's device checks
monkeypatched: no Mac runs these tests, so MPS presence and absence are both simulated."""

from __future__ import annotations

import pytest
import torch

from pocketgpt.errors import UserError
from pocketgpt.train import distributed, perf
from pocketgpt.train.distributed import pick_device


@pytest.fixture
def machine(monkeypatch):
    """Set what torch reports: ``machine(cuda=..., mps=..., mps_built=...)``."""
    def set_(cuda=False, mps=False, mps_built=True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.setattr(torch.backends.mps, "is_built", lambda: mps_built)
    return set_


def test_auto_prefers_cuda_then_mps_then_cpu(machine):
    machine(cuda=False, mps=True)
    assert pick_device("auto") == torch.device("mps") and pick_device(None) == torch.device("mps")
    assert pick_device("mps") == torch.device("mps")
    machine(cuda=False, mps=False)
    assert pick_device("auto") == torch.device("cpu")
    machine(cuda=True, mps=True)
    assert pick_device("auto", local_rank=3) == torch.device("cuda", 3)


@pytest.mark.parametrize("built, needle", [(True, "torch.backends.mps.is_available() is False"),
                                           (False, "torch.backends.mps.is_built() is False")])
def test_absent_mps_says_what_torch_reports(machine, built, needle):
    machine(mps=False, mps_built=built)
    with pytest.raises(UserError) as e:
        pick_device("mps")
    assert needle in str(e.value) and "device 'mps'" in str(e.value) and "\n" not in str(e.value)


def test_absent_cuda_and_unknown_names(machine):
    machine(cuda=False)
    with pytest.raises(UserError, match=r"device 'cuda:1': CUDA is not available.*is_available\(\) is False"):
        pick_device("cuda:1")
    with pytest.raises(UserError, match="expected auto, cpu, cuda, cuda:N or mps"):
        pick_device("metal")


def test_mps_refuses_several_processes(machine, monkeypatch):
    machine(mps=True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError, match="torchrun with several processes is not supported on MPS"):
        distributed.setup_distributed("mps")


def test_dtype_on_mps_is_measured_and_checked(monkeypatch):
    mps = torch.device("mps")
    rates = {"float32": 1e12, "bfloat16": 3e12}
    monkeypatch.setattr(perf, "measure_matmul_peak", lambda dev, dtype: rates[dtype])
    monkeypatch.setattr(perf, "bf16_supported", lambda dev: True)
    assert perf.choose_dtype("auto", mps) == "bfloat16"  # measured 3x faster
    rates["bfloat16"] = 1.2e12
    assert perf.choose_dtype("auto", mps) == "float32"  # not worth it
    monkeypatch.setattr(perf, "bf16_supported", lambda dev: False)
    assert perf.choose_dtype("auto", mps) == "float32"
    with pytest.raises(UserError, match="dtype bfloat16: not supported on device mps"):
        perf.choose_dtype("bfloat16", mps)
    assert perf.choose_dtype("float32", mps) == "float32"


def test_bf16_probe_without_an_apple_gpu():
    # on a machine without MPS the probe's tensor cannot be made: reported unsupported, not a crash
    if not distributed.mps_status()[0]:
        assert perf.bf16_supported(torch.device("mps")) is False
    assert perf.bf16_supported(torch.device("cpu")) is True


def test_generation_fast_path_is_cpu_only():
    from pocketgpt.generate import fastpath
    from pocketgpt.model import GPT, GPTConfig

    model = GPT(GPTConfig(n_layer=1, n_embd=16, n_head=2, n_kv_head=1, vocab_size=64, block_size=16)).eval()
    assert fastpath.supported(model)
    # parameters on any other device (meta stands in for mps/cuda here) take the plain forward
    assert not fastpath.supported(model.to("meta"))


def test_load_checkpoint_resolves_the_device_first(machine, tmp_path):
    from pocketgpt.train import load_checkpoint

    machine(mps=False)
    with pytest.raises(UserError, match="device 'mps'"):
        load_checkpoint(tmp_path / "not-even-there", map_location="mps")
