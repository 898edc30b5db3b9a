"""Training across processes with torch.distributed: data parallelism, as torch DDP does it,
written out because the encoders are called through several methods, not one forward().

Every rank holds the whole graph and model. Each optimiser step's mini-batch (the same on every
rank: the batch order comes from a generator seeded alike everywhere) is split into one part per
rank; each rank computes the loss of its part and the gradients are averaged with all_reduce
(gloo on CPU, NCCL on CUDA) before the step, so the weights stay the same on every rank. Rank 0
validates, decides when to stop (the others follow, by broadcast), checkpoints and writes the
model. World size 1 touches none of this: no process group, exactly the one-process code path.

Launch: `reelgraph run --nproc N` starts N-1 helper processes on this machine beside the
training task (rank 0); torchrun (`python -m torch.distributed.run ... -m reelgraph.train.ddp`)
starts ranks on several machines through its usual rendezvous variables (see README).

Imports only torch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1

    @property
    def single(self) -> bool:
        return self.world == 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def part(self, *batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's share of one step's batch (contiguous, sizes differing by at most one)."""
        if self.single:
            return batch
        return tuple(t.tensor_split(self.world)[self.rank] for t in batch)

    def own_stream(self, shared: torch.Generator, seed: int) -> torch.Generator:
        """The generator of what this rank's steps sample: the shared one in one process (as
        before ranks existed), else one of its own."""
        if self.single:
            return shared
        return torch.Generator(device=shared.device).manual_seed(seed + 104_729 * (1 + self.rank))

    def average_gradients(self, params: list[torch.nn.Parameter], loss: torch.Tensor) -> float:
        """Every rank's gradients replaced by their mean over the ranks, in one all_reduce of
        one flat buffer (a parameter this rank's part did not reach counts as zero); returns
        the mean of the ranks' losses, so a loss that is not finite on one rank is seen by all."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads] + [loss.detach().reshape(1).to(grads[0])])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p, g in zip(params, grads, strict=True):
            p.grad = flat[offset : offset + g.numel()].view_as(p).clone()
            offset += g.numel()
        return float(flat[-1])

    def follow_leader(self, *flags: bool) -> tuple[bool, ...]:
        """Rank 0's values of flags (when to stop), on every rank."""
        if self.single:
            return flags
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        t = torch.tensor([int(f) for f in flags], dtype=torch.int64, device=device)
        dist.broadcast(t, src=0)
        return tuple(bool(v) for v in t.tolist())


ONE_PROCESS = Ranks()
TIMEOUT = dt.timedelta(minutes=10)


def backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def from_environment() -> Ranks:
    """torchrun's RANK / WORLD_SIZE; one process when they are absent."""
    return Ranks(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join(ranks: Ranks, device: torch.device, address: str, port: int) -> None:
    """Join the process group of a training on this machine (a no-op for one process)."""
    _join(ranks, device, f"tcp://{address}:{port}")


def join_from_environment(ranks: Ranks, device: torch.device) -> None:
    """Join as torchrun says (MASTER_ADDR / MASTER_PORT)."""
    _join(ranks, device, "env://")


def _join(ranks: Ranks, device: torch.device, init_method: str) -> None:
    if ranks.single:
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # A rank that dies leaves the others waiting in a collective: give up after TIMEOUT.
    dist.init_process_group(
        backend(device),
        init_method=init_method,
        rank=ranks.rank,
        world_size=ranks.world,
        timeout=TIMEOUT,
    )


def leave(ranks: Ranks) -> None:
    if not ranks.single and dist.is_initialized():
        dist.destroy_process_group()
