"""Starting a training across processes (reelgraph.train.distributed).

- On this machine (`TrainConfig.nproc` > 1, as `reelgraph run --nproc N` sets): this process is
  rank 0 and returns the result; nproc - 1 helper processes are spawned for the other ranks and
  read the graph from a file. (Spawned processes import the calling script again: a script that
  trains with nproc > 1 keeps its work under `if __name__ == "__main__":`.)
- On several machines, torchrun starts every rank of this module's command line, with its usual
  rendezvous variables (MASTER_ADDR / MASTER_PORT, RANK / WORLD_SIZE / LOCAL_RANK):

    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \
        -m reelgraph.train.ddp --graph graph.pt --out ckpt/ --train '{"epochs": 50}'

Imports only torch / numpy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.multiprocessing as mp

from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.config import ModelConfig
from reelgraph.model.saved import default_model_config, select_device
from reelgraph.train import distributed
from reelgraph.train.config import TrainConfig, TrainResult
from reelgraph.train.distributed import Ranks
from reelgraph.train.loop import train_rank

GRAPH_FILE = "graph.ranks.pt"  # the graph the helper processes read


def rank_config(cfg: TrainConfig, local_rank: int) -> TrainConfig:
    """cfg for one rank: on CUDA, the GPU of its local rank (the CPU cores are shared out by
    _threads, or by torchrun's OMP_NUM_THREADS)."""
    device = select_device(cfg.device)
    if device.type == "cuda" and device.index is None:
        return dataclasses.replace(cfg, device=f"cuda:{local_rank}")
    return cfg


def _threads(nproc: int) -> None:
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))


def _helper(
    index: int,
    nproc: int,
    port: int,
    graph_file: str,
    out_dir: str,
    cfg: TrainConfig,
    model_cfg: ModelConfig,
    kwargs: dict,
) -> None:
    """Rank index + 1 of a training started by train_here (a spawned process)."""
    ranks = Ranks(index + 1, nproc)
    cfg = rank_config(cfg, ranks.rank)
    _threads(nproc)
    distributed.join(ranks, select_device(cfg.device), "127.0.0.1", port)
    try:
        train_rank(RatingGraph.load(graph_file), out_dir, cfg, model_cfg, ranks=ranks, **kwargs)
    finally:
        distributed.leave(ranks)


def train_here(
    graph: RatingGraph,
    out_dir: Path,
    cfg: TrainConfig,
    model_cfg: ModelConfig | None,
    progress: Callable[[dict], None] | None = None,
    **kwargs: object,
) -> TrainResult:
    """`train` over cfg.nproc processes of this machine; this one is rank 0. kwargs: train's
    resume, stop_after_epoch and fixed_epochs, alike on every rank."""
    nproc = cfg.nproc
    model_cfg = model_cfg or default_model_config(graph)
    out_dir.mkdir(parents=True, exist_ok=True)
    graph_file = out_dir / GRAPH_FILE
    graph.save(graph_file)
    port = distributed.free_port()
    helpers = mp.start_processes(
        _helper,
        args=(nproc, port, str(graph_file), str(out_dir), cfg, model_cfg, kwargs),
        nprocs=nproc - 1,
        join=False,
        start_method="spawn",
    )
    ranks = Ranks(0, nproc)
    threads = torch.get_num_threads()
    _threads(nproc)
    cfg0 = rank_config(cfg, 0)
    try:
        distributed.join(ranks, select_device(cfg0.device), "127.0.0.1", port)
        result = train_rank(
            graph, out_dir, cfg0, model_cfg, progress=progress, ranks=ranks, **kwargs
        )
    except BaseException:
        _wind_up(ranks, threads, graph_file, helpers, failing=True)
        raise
    _wind_up(ranks, threads, graph_file, helpers, failing=False)
    assert result is not None
    return result


def _wind_up(
    ranks: Ranks, threads: int, graph_file: Path, helpers: mp.ProcessContext, failing: bool
) -> None:
    """Leave the group, wait for every helper. A helper's failure is raised, unless rank 0 is
    failing already (the helpers then fail alike, or at the timeout: rank 0's error tells)."""
    distributed.leave(ranks)
    torch.set_num_threads(threads)
    graph_file.unlink(missing_ok=True)
    try:
        while not helpers.join():
            pass
    except mp.ProcessRaisedException:
        if not failing:
            raise


def main(argv: list[str] | None = None) -> None:
    """One rank started by torchrun (see the module's docstring)."""
    p = argparse.ArgumentParser(prog="python -m reelgraph.train.ddp")
    p.add_argument("--graph", required=True, help="a graph file (graph.pt of a run)")
    p.add_argument("--out", required=True, help="checkpoint and model folder (rank 0 writes)")
    p.add_argument("--train", default="{}", help="TrainConfig settings as JSON")
    p.add_argument("--model", default="{}", help="ModelConfig settings as JSON")
    args = p.parse_args(argv)
    ranks = distributed.from_environment()
    graph = RatingGraph.load(args.graph)
    # nproc: the world size, so a checkpoint resumes only under the same one.
    cfg = TrainConfig(**{**json.loads(args.train), "nproc": ranks.world})
    cfg = rank_config(cfg, int(os.environ.get("LOCAL_RANK", "0")))
    model_cfg = default_model_config(graph, **json.loads(args.model))
    distributed.join_from_environment(ranks, select_device(cfg.device))
    try:
        result = train_rank(graph, args.out, cfg, model_cfg, ranks=ranks)
    finally:
        distributed.leave(ranks)
    if result is not None:
        print(json.dumps({k: v for k, v in dataclasses.asdict(result).items() if k != "history"}))


if __name__ == "__main__":
    main()
