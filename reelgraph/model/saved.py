"""The model beside its files: which device runs it, its default settings for a graph, and the
model file (save / load). Scoring, publishing, refresh, the explorer and training all load
models here.

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch

from reelgraph.core.errors import TrainingError
from reelgraph.core.folders import folder_for
from reelgraph.graph.ratings import RatingGraph
from reelgraph.model.config import ModelConfig
from reelgraph.model.recommender import GraphSAGERecommender

# Model files of an older format cannot be loaded: 1 had one shared encoder, 2 no item filter,
# 3 no popularity penalty.
MODEL_FORMAT = 4


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from exc
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            f"device {name!r} requested but CUDA is not available here; use --device cpu or auto"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise TrainingError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return device


def default_model_config(graph: RatingGraph, **overrides: object) -> ModelConfig:
    _, _, r = graph.part("train")
    return ModelConfig(
        n_users=graph.n_users,
        n_movies=graph.n_movies,
        user_in=graph.x_user.shape[1],
        movie_in=graph.x_movie.shape[1],
        global_mean=float(r.double().mean()) if r.numel() else 3.5,
        **overrides,  # type: ignore[arg-type]
    )


def save_model(
    path: Path,
    model: GraphSAGERecommender,
    model_cfg: ModelConfig,
    train_settings: dict,
    metrics: dict,
    history: list[dict],
    best_epoch: int,
    best_rank_epoch: int | None,
    nodes: str | None = None,
) -> None:
    """train_settings: the TrainConfig it was trained with, as a dict; nodes: node_key of the
    graph it was trained on (a warm start checks it)."""
    folder_for(path)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "format": MODEL_FORMAT,
            "nodes": nodes,
            "state_dict": model.state_dict(),
            "config": dataclasses.asdict(model_cfg),
            "train_config": train_settings,
            "metrics": metrics,
            "history": history,
            "best_epoch": best_epoch,
            "best_rank_epoch": best_rank_epoch,
        },
        tmp,
    )
    tmp.replace(path)


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[GraphSAGERecommender, dict]:
    """The model and the rest of the file (config, metrics, history): plain tensors, weights_only."""
    d = _read_model_file(path, device)
    # Files from before the rating basis have none (ModelConfig.rating_basis_dim), and files
    # from before rating_members one rating encoder, whatever the defaults are now.
    before = {"rating_basis_dim": 0, "rating_members": 1}
    model = GraphSAGERecommender(ModelConfig(**{**before, **d["config"]})).to(device)
    model.load_state_dict(d["state_dict"])
    model.eval()
    return model, d


def node_key(graph: RatingGraph) -> str:
    """Which users and movies, in which order, a graph's rows are: two splits of one warehouse
    share it (their node indices mean the same people and films), so weights carry over."""
    h = hashlib.sha256()
    for ids in (graph.user_ids, graph.movie_ids):
        h.update(ids.to(torch.int64).numpy().tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]


def warm_start_weights(
    path: str | Path, graph: RatingGraph, device: torch.device
) -> dict[str, torch.Tensor]:
    """The weights of a model file, to start a training on `graph` from: refused when the file
    was trained on other users or movies (a row of an id embedding would be someone else)."""
    d = _read_model_file(path, device)
    if d.get("nodes") != node_key(graph):
        raise TrainingError(
            f"{path} was trained on other users or movies than this split's; "
            "cannot warm-start from it (refit from scratch: --refit-share 0)"
        )
    return d["state_dict"]


def _read_model_file(path: str | Path, device: str | torch.device) -> dict:
    """A model file's contents (plain tensors, weights_only), refused when an older format."""
    d = torch.load(path, weights_only=True, map_location=device)
    if d.get("format") != MODEL_FORMAT:
        raise TrainingError(
            f"{path} was written by an older reelgraph (model format {d.get('format')}, this one "
            f"reads {MODEL_FORMAT}); train it again with "
            "`reelgraph run`"
        )
    return d
