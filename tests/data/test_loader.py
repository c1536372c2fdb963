"""ShardLoader: windows, disjoint ranks, exact resume, seeds, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from data_testlib import make_docs

from pocketgpt.data import ShardLoader, read_shard_index, tokenize_to_shards
from pocketgpt.errors import UserError

T, B = 16, 4


@pytest.fixture(scope="module")
def data(tmp_path_factory, tok_dir):
    out = tmp_path_factory.mktemp("loader") / "s"
    # Several shards of uneven length, so windows come from different files.
    tokenize_to_shards(make_docs(5, 150), tok_dir, out, val_fraction=0.1, shard_tokens=1000)
    return out


def stream(out, split="train"):
    index = read_shard_index(out)
    return [np.load(out / s["file"]) for s in index["splits"][split]["shards"]]


def window_key(x_row, y_row):
    return tuple(x_row.tolist()) + (int(y_row[-1]),)


def test_sequential_windows_walk_the_shards_in_order(data):
    arrays = stream(data)
    expect = []
    for a in arrays:
        for k in range((len(a) - 1) // T):
            expect.append(a[k * T : k * T + T + 1].tolist())
    loader = ShardLoader(data, batch_size=B, seq_len=T, sequential=True)
    assert loader.num_windows == len(expect) and len(arrays) > 2
    got = []
    while len(got) < len(expect) + B:  # runs into the second epoch
        x, y = loader.next_batch()
        assert x.dtype == torch.long and x.shape == (B, T) and y.shape == (B, T)
        assert torch.equal(x[:, 1:], y[:, :-1])
        got += [x[i].tolist() + [int(y[i, -1])] for i in range(B)]
    assert got[: len(expect)] == expect
    assert got[len(expect) : len(expect) + B] == (expect + expect)[len(expect) : len(expect) + B]


def test_random_windows_are_real_windows_and_cover_an_epoch(data):
    flat = {tuple(a[i : i + T + 1].tolist()) for a in stream(data) for i in range(len(a) - T)}
    loader = ShardLoader(data, batch_size=B, seq_len=T, seed=3)
    n = loader.num_windows
    seen = []
    for _ in range(n // B):
        x, y = loader.next_batch()
        seen += [window_key(x[i], y[i]) for i in range(B)]
    assert all(w in flat for w in seen)
    assert len(set(seen)) == len(seen)  # an epoch visits each slot once
    seq = ShardLoader(data, batch_size=B, seq_len=T, sequential=True)
    assert seen != [window_key(*[t[i] for t in seq.next_batch()]) for _ in range(n // B) for i in range(B)][: len(seen)]


def test_seed_is_deterministic_and_matters(data):
    a, b, c = (ShardLoader(data, batch_size=B, seq_len=T, seed=s) for s in (1, 1, 2))
    for _ in range(5):
        xa, _ = a.next_batch()
        xb, _ = b.next_batch()
        xc, _ = c.next_batch()
        assert torch.equal(xa, xb)
    assert not torch.equal(xa, xc)


@pytest.mark.parametrize("sequential", [False, True])
def test_ranks_read_disjoint_windows_and_together_cover_one_loader(data, sequential):
    world = 3
    ranks = [ShardLoader(data, batch_size=B, seq_len=T, rank=r, world_size=world, sequential=sequential) for r in
             range(world)]
    single = ShardLoader(data, batch_size=B * world, seq_len=T, sequential=sequential)
    steps = single.num_windows // (B * world)
    assert steps >= 3
    for _ in range(steps):
        xs = [r.next_batch()[0] for r in ranks]
        keys = [{tuple(row.tolist()) for row in x} for x in xs]
        assert all(len(keys[i] & keys[j]) == 0 for i in range(world) for j in range(i + 1, world))
        assert torch.equal(torch.cat(xs), single.next_batch()[0])


@pytest.mark.parametrize("world", [1, 2])
def test_served_replays_every_window_handed_out_across_ranks_and_epochs(data, world):
    ranks = [ShardLoader(data, batch_size=B, seq_len=T, rank=r, world_size=world, seed=5) for r in range(world)]
    steps = ranks[0].num_windows // (B * world) + 3  # into the second epoch
    handed = []
    for _ in range(steps):
        for r in ranks:
            x, y = r.next_batch()
            handed += [window_key(x[i], y[i]) for i in range(B)]
    fresh = ShardLoader(data, batch_size=1, seq_len=T, seed=5)
    fresh.load_state_dict(json.loads(json.dumps(ranks[0].state_dict())))
    replay = [tuple(w.tolist()) for w in fresh.served()]
    assert sorted(replay) == sorted(handed) and len(replay) == steps * B * world
    assert [tuple(w.tolist()) for w in fresh.served([2, 0])] == [replay[2], replay[0]]


def test_resume_is_exact_through_json(data):
    b = 16
    straight = ShardLoader(data, batch_size=b, seq_len=T, seed=7)
    expect = [straight.next_batch() for _ in range(40)]
    assert straight.num_windows < 40 * b  # the run crosses epoch boundaries
    first = ShardLoader(data, batch_size=b, seq_len=T, seed=7)
    got = [first.next_batch() for _ in range(13)]
    state = json.loads(json.dumps(first.state_dict()))
    resumed = ShardLoader(data, batch_size=b, seq_len=T, seed=7)
    resumed.load_state_dict(state)
    got += [resumed.next_batch() for _ in range(27)]
    for (xe, ye), (xg, yg) in zip(expect, got):
        assert torch.equal(xe, xg) and torch.equal(ye, yg)
    other_seed = ShardLoader(data, batch_size=B, seq_len=T, seed=8)
    with pytest.raises(UserError, match="seed"):
        other_seed.load_state_dict(state)


def test_val_split_and_reset(data):
    val = ShardLoader(data, split="val", batch_size=2, seq_len=T, sequential=True)
    first = val.next_batch()[0]
    val.next_batch()
    val.reset()
    assert torch.equal(val.next_batch()[0], first)


def test_block_size_too_large_is_a_clear_error(data):
    tokens = read_shard_index(data)["splits"]["val"]["tokens"]
    with pytest.raises(UserError, match="block_size larger than the shards allow"):
        ShardLoader(data, split="val", batch_size=1, seq_len=tokens)
    ShardLoader(data, split="val", batch_size=1, seq_len=tokens - 1)
    with pytest.raises(UserError, match="no split 'test'"):
        ShardLoader(data, split="test")
    with pytest.raises(UserError, match="rank"):
        ShardLoader(data, rank=2, world_size=2)


def test_damaged_shard_is_a_clear_error(tmp_path, tok_dir):
    out = tmp_path / "s"
    tokenize_to_shards(make_docs(6, 20), tok_dir, out, val_fraction=0.1)
    (out / "train_000000.npy").write_bytes(b"not numpy")
    with pytest.raises(UserError, match="train_000000.npy: cannot read shard"):
        ShardLoader(out, seq_len=4)
