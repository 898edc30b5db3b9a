"""Full-batch training of the GraphSAGE rating model, with checkpoints and exact resume.

Each epoch splits the TRAIN edges at random into message edges (they build the adjacency) and
supervision edges (the loss is computed on them), as PyG's RandomLinkSplit does with a
disjoint train ratio: an edge never carries its own label through a message, which is also
the situation at validation/test time, when every train edge passes messages and the scored
edges are absent from the graph.

Model selection: the rating output is taken from the epoch with the best validation RMSE and
the ranking output from the epoch with the best validation NDCG@K (full catalogue, train movies
excluded, on a fixed sample of validation users); training stops when neither has improved for
`patience` epochs. See reelgraph.model for why the two differ.

Determinism: every random draw of epoch e comes from seeds derived from (seed, e), so a run
resumed from a checkpoint after epoch e repeats the uninterrupted run exactly on CPU.

Imports only torch / torch_geometric / numpy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from reelgraph.errors import ReelgraphError
from reelgraph.evaluate import Relevance, hits_matrix, ranking_at_k
from reelgraph.graph import BipartiteAdjacency, RatingGraph, UserItems
from reelgraph.metrics import rating_metrics
from reelgraph.model import GraphSAGERecommender, ModelConfig, message_graph

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"


class TrainingError(ReelgraphError):
    pass


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 500
    lr: float = 0.005
    weight_decay: float = 0.05
    message_fraction: float = 0.75  # share of train edges passing messages in each epoch
    rank_weight: float = 1.0  # weight of the pairwise (BPR) ranking term beside the MSE
    rank_threshold: float = 0.5  # supervision edges rated at least this are BPR positives (all)
    rank_negatives: int = 4  # random negative movies per positive
    rank_on: str = "supervision"  # BPR positives: "supervision" edges only, or "all" train edges
    rank_max_pairs: int = (
        1_000_000  # about this many BPR pairs per epoch at most: bounds memory on 25M ratings
    )
    patience: int = 50  # epochs without a better validation RMSE (nor NDCG@K) before stopping
    rank_select_k: int = 20  # the ranking output is selected on validation NDCG at this K ...
    rank_select_users: int = 4096  # ... over at most this many validation users (a fixed sample)
    relevance_threshold: float = 4.0  # ... where a validation rating >= this is relevant
    min_delta: float = 1e-4
    eval_every: int = 1
    checkpoint_every: int = 10
    log_every: int = 10
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast for the dense layers on CUDA (sparse products stay fp32)


@dataclasses.dataclass
class TrainResult:
    model_path: str
    best_epoch: int  # of the rating output (best validation RMSE)
    # Of the ranking output (best validation NDCG@K); None when there is no ranking head.
    best_rank_epoch: int | None
    epochs_run: int
    stopped_early: bool
    resumed_from_epoch: int | None
    history: list[dict]
    metrics: dict[str, dict[str, float]]  # part -> {rmse, mae, mse_scaled}
    seconds: float
    seconds_per_epoch: float  # of this run's epochs, validation included
    device: str
    eval_seconds: float = 0.0  # of `seconds`, the part spent on validation (RMSE and NDCG@K)


@contextlib.contextmanager
def keep_freed_memory() -> Iterator[bool]:
    """While training, ask glibc to keep freed memory for reuse instead of unmapping it.

    Every epoch allocates the same few large tensors (millions of edges x hidden). By default
    glibc serves each from a fresh mmap and unmaps it on free, so every epoch pays first-touch
    page faults again; on the 25m graph in a VM that was a third of the epoch. The setting is
    process-wide, so it is undone (and the kept memory given back) when training ends: in the
    pipeline process, evaluation and publishing run next, and with the setting left on the
    25m pipeline was OOM-killed at 24 GB while publishing. Yields whether it applied (glibc only)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = None
    if name is not None:
        try:
            libc = ctypes.CDLL(name)
            libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist (glibc)
        except (OSError, AttributeError):
            libc = None
    m_trim_threshold, m_mmap_max = -1, -4
    applied = (
        libc is not None
        and bool(libc.mallopt(m_mmap_max, 0))
        and bool(libc.mallopt(m_trim_threshold, 2**30 * 64))
    )
    try:
        yield applied
    finally:
        if libc is not None:
            libc.mallopt(m_mmap_max, 65536)  # glibc's defaults
            libc.mallopt(m_trim_threshold, 128 * 1024)
            libc.malloc_trim(0)


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            f"device {name!r} requested but CUDA is not available here; use --device cpu or auto"
        )
    return device


def default_model_config(graph: RatingGraph, **overrides: object) -> ModelConfig:
    _, _, r = graph.part("train")
    return ModelConfig(
        n_users=graph.n_users,
        n_movies=graph.n_movies,
        user_in=graph.x_user.shape[1],
        movie_in=graph.x_movie.shape[1],
        global_mean=float(r.double().mean()),
        **overrides,  # type: ignore[arg-type]
    )


def train(
    graph: RatingGraph,
    out_dir: str | Path,
    cfg: TrainConfig | None = None,
    model_cfg: ModelConfig | None = None,
    resume: bool = True,
    progress: Callable[[dict], None] | None = None,
    stop_after_epoch: int | None = None,
) -> TrainResult:
    """Train, early-stopping on validation RMSE; writes out_dir/model.pt (best weights + config).

    stop_after_epoch simulates a crash (raises after that epoch's checkpoint) for resume tests.
    """
    cfg = cfg or TrainConfig()
    on_cpu = select_device(cfg.device).type == "cpu"
    with keep_freed_memory() if on_cpu else contextlib.nullcontext():
        return _train(graph, out_dir, cfg, model_cfg, resume, progress, stop_after_epoch)


def _train(
    graph: RatingGraph,
    out_dir: str | Path,
    cfg: TrainConfig,
    model_cfg: ModelConfig | None,
    resume: bool,
    progress: Callable[[dict], None] | None,
    stop_after_epoch: int | None,
) -> TrainResult:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = select_device(cfg.device)
    model_cfg = model_cfg or default_model_config(graph)
    torch.manual_seed(cfg.seed)
    model = GraphSAGERecommender(model_cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    t_user, t_movie, t_rating = (t.to(device) for t in graph.part("train"))
    v_user, v_movie, v_rating = (t.to(device) for t in graph.part("val"))
    x_user, x_movie = graph.x_user.to(device), graph.x_movie.to(device)
    adj = BipartiteAdjacency.build(t_user, t_movie, graph.n_users, graph.n_movies)
    # From here train edges are in the adjacency's canonical order (its to-user layout's), so
    # an epoch's message mask is already in one CSR layout's order.
    t_user, t_movie, t_rating = adj.users, adj.movies, adj.canonical(t_rating)
    deviation = adj.weights(t_rating - model_cfg.global_mean) if model_cfg.rating_messages else None
    # Every train edge passes messages; encoded at each validation, so it keeps its inputs.
    full_graph = message_graph(adj, None, deviation, reuse_inputs=True)
    probe = (
        RankingProbe.build(graph, cfg, device)
        if model_cfg.rank_head and cfg.rank_weight > 0
        else None
    )

    state = _TrainState()
    resumed_from = None
    ckpt_path = out / CHECKPOINT
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True, map_location=device)
        if ckpt["config"] == dataclasses.asdict(model_cfg) and ckpt[
            "train_config"
        ] == result_config(cfg):
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            state = _TrainState.from_checkpoint(ckpt)
            resumed_from = state.epoch
            log.info("resuming from %s after epoch %d", ckpt_path, state.epoch)
        else:
            log.warning("checkpoint %s is from another configuration; starting afresh", ckpt_path)

    use_amp = cfg.amp and device.type == "cuda"
    t0 = time.perf_counter()
    epochs_this_run, eval_seconds = 0, 0.0
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        if state.bad_epochs >= cfg.patience and (
            probe is None or state.bad_rank_epochs >= cfg.patience
        ):
            break
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # dropout and sampling of this epoch
        gen = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + epoch)
        model.train()
        keep = torch.rand(t_user.numel(), generator=gen, device=device) < cfg.message_fraction
        sup = ~keep
        # Gathered once: each boolean gather over 20M train edges costs ~0.2 s on 2 cores.
        s_user, s_movie, s_rating = t_user[sup], t_movie[sup], t_rating[sup]
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            enc = model.encode(x_user, x_movie, message_graph(adj, keep, deviation))
            pred = model.predict(enc, s_user, s_movie).float()
            loss = torch.mean((pred - s_rating) ** 2)
            if cfg.rank_weight > 0:
                ranked = (
                    (s_user, s_movie, s_rating)
                    if cfg.rank_on == "supervision"
                    else (t_user, t_movie, t_rating)
                )
                loss = loss + cfg.rank_weight * _bpr(model, enc, *ranked, cfg, gen)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"epoch {epoch}: training loss is {loss.item()} (not finite); lower --lr (now {cfg.lr}) "
                f"or check the features for extreme values"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        epochs_this_run += 1

        row = {
            "epoch": epoch,
            "train_loss": float(loss.detach()),
            "train_rmse": float(torch.sqrt(torch.mean((pred.detach() - s_rating) ** 2))),
        }
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            t_eval = time.perf_counter()
            enc = _encode_eval(model, x_user, x_movie, full_graph, use_amp)
            val = _rating_metrics(model, enc, v_user, v_movie, v_rating)
            row["val_rmse"] = val["rmse"]
            if val["rmse"] < state.best_val - cfg.min_delta:
                state.best_val, state.best_epoch, state.bad_epochs = val["rmse"], epoch, 0
                state.best_state = _snapshot(model)
            else:
                state.bad_epochs += cfg.eval_every
            if probe is not None:
                row[f"val_ndcg@{cfg.rank_select_k}"] = ndcg = probe.ndcg(model, enc)
                if ndcg > state.best_rank + cfg.min_delta:
                    state.best_rank, state.best_rank_epoch, state.bad_rank_epochs = ndcg, epoch, 0
                    state.best_rank_state = _snapshot(model)
                else:
                    state.bad_rank_epochs += cfg.eval_every
            del enc
            eval_seconds += time.perf_counter() - t_eval
        state.history.append(row)
        state.epoch = epoch
        if epoch % cfg.log_every == 0 or epoch == 1:
            log.info(
                "epoch %d: train loss %.4f, val RMSE %.4f, val NDCG@%d %.4f",
                epoch,
                row["train_loss"],
                row.get("val_rmse", float("nan")),
                cfg.rank_select_k,
                row.get(f"val_ndcg@{cfg.rank_select_k}", float("nan")),
            )
            if progress is not None:
                progress(
                    {
                        **row,
                        "epochs": cfg.epochs,
                        "best_val_rmse": state.best_val,
                        "best_epoch": state.best_epoch,
                    }
                )
        if epoch % cfg.checkpoint_every == 0:
            _save_checkpoint(ckpt_path, model, opt, model_cfg, cfg, state)
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            _save_checkpoint(ckpt_path, model, opt, model_cfg, cfg, state)
            raise KeyboardInterrupt(f"simulated crash after epoch {epoch}")
    seconds = time.perf_counter() - t0

    if state.best_state is None:
        raise TrainingError("no validation evaluation happened; raise --epochs or lower eval_every")
    # The checkpoint keeps the last weights and optimizer state, so more epochs can follow.
    _save_checkpoint(ckpt_path, model, opt, model_cfg, cfg, state)
    model.load_state_dict(state.best_state)
    # Rating metrics read only the rating weights: one encoding for all three parts, before the
    # ranker is attached (which would encode a second time for nothing).
    enc = _encode_eval(model, x_user, x_movie, full_graph, use_amp)
    metrics = {}
    for part in ("train", "val", "test"):
        u, m, r = (t.to(device) for t in graph.part(part))
        metrics[part] = _rating_metrics(model, enc, u, m, r) if u.numel() else {}
    del enc
    if state.best_rank_state is not None:
        model.attach_ranker(state.best_rank_state)
    model_path = out / MODEL
    save_model(model_path, model, model_cfg, cfg, metrics, state.history, state.best_epoch)
    return TrainResult(
        model_path=str(model_path),
        best_epoch=state.best_epoch,
        best_rank_epoch=state.best_rank_epoch if probe is not None else None,
        epochs_run=state.epoch,
        stopped_early=state.epoch < cfg.epochs,
        resumed_from_epoch=resumed_from,
        history=state.history,
        metrics=metrics,
        seconds=seconds,
        seconds_per_epoch=seconds / max(epochs_this_run, 1),
        device=str(device),
        eval_seconds=eval_seconds,
    )


@dataclasses.dataclass
class _TrainState:
    epoch: int = 0
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_state: dict | None = None
    history: list[dict] = dataclasses.field(default_factory=list)
    best_rank: float = -math.inf
    best_rank_epoch: int = 0
    bad_rank_epochs: int = 0
    best_rank_state: dict | None = None

    @staticmethod
    def from_checkpoint(ckpt: dict) -> _TrainState:
        fields = {f.name for f in dataclasses.fields(_TrainState)}
        state = _TrainState(**{k: v for k, v in ckpt.items() if k in fields})
        state.history = list(state.history)
        return state


def result_config(cfg: TrainConfig) -> dict:
    """The settings that decide the trained weights: a checkpoint resumes only under the same ones,
    and the checkpoint folder is keyed by them."""
    # How often we log or checkpoint does not change the result, so it may differ on resume.
    d = dataclasses.asdict(cfg)
    for k in ("log_every", "checkpoint_every", "device"):
        d.pop(k)
    return d


def _save_checkpoint(
    path: Path, model, opt, model_cfg: ModelConfig, cfg: TrainConfig, s: _TrainState
) -> None:  # noqa: ANN001
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "config": dataclasses.asdict(model_cfg),
            "train_config": result_config(cfg),
            # Not dataclasses.asdict: it would deep-copy the snapshots.
            **{f.name: getattr(s, f.name) for f in dataclasses.fields(s)},
        },
        tmp,
    )
    tmp.replace(path)  # a crash mid-write never leaves a torn checkpoint


def save_model(
    path: Path,
    model,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    metrics: dict,
    history: list[dict],
    best_epoch: int,
) -> None:  # noqa: ANN001
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "state_dict": model.state_dict(),
            "config": dataclasses.asdict(model_cfg),
            "train_config": dataclasses.asdict(cfg),
            "metrics": metrics,
            "history": history,
            "best_epoch": best_epoch,
        },
        tmp,
    )
    tmp.replace(path)


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[GraphSAGERecommender, dict]:
    """The model and the rest of the file (config, metrics, history): plain tensors, weights_only."""
    d = torch.load(path, weights_only=True, map_location=device)
    model = GraphSAGERecommender(ModelConfig(**d["config"])).to(device)
    prefix = "ranker."
    ranker = {k[len(prefix) :]: v for k, v in d["state_dict"].items() if k.startswith(prefix)}
    if ranker:
        model.attach_ranker(ranker)
    model.load_state_dict(d["state_dict"])
    model.eval()
    return model, d


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def _encode_eval(model, x_user, x_movie, graph, use_amp: bool):  # noqa: ANN001, ANN202
    model.eval()
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
        return model.encode(x_user, x_movie, graph)


@torch.no_grad()
def _rating_metrics(model, enc, users, movies, ratings) -> dict[str, float]:  # noqa: ANN001
    pred = model.clamp(model.predict(enc, users, movies).float())
    return rating_metrics(pred.cpu().numpy(), ratings.cpu().numpy())


@dataclasses.dataclass
class RankingProbe:
    """Validation NDCG@K of the ranking output, as the evaluation computes it (whole catalogue,
    the user's train movies excluded, relevant = validation rating >= threshold), on a fixed
    seeded sample of validation users so that it costs little per epoch on 25M ratings."""

    users: np.ndarray
    relevant: Relevance
    train: UserItems
    k: int
    batch_size: int = 1024

    @staticmethod
    def build(graph: RatingGraph, cfg: TrainConfig, device: torch.device) -> RankingProbe | None:
        vu, vm, vr = (t.numpy() for t in graph.part("val"))
        relevant = Relevance.from_edges(vu, vm, vr, graph.n_users, cfg.relevance_threshold)
        users = np.flatnonzero(relevant.count(np.arange(graph.n_users)) > 0)
        if users.size == 0:
            return None
        if users.size > cfg.rank_select_users:
            rng = np.random.default_rng(cfg.seed)
            users = np.sort(rng.choice(users, cfg.rank_select_users, replace=False))
        tu, tm, _ = graph.part("train")
        train = UserItems.from_edges(tu.numpy(), tm.numpy(), graph.n_users)
        return RankingProbe(users, relevant, train, min(cfg.rank_select_k, graph.n_movies))

    @torch.no_grad()
    def ndcg(self, model, enc) -> float:  # noqa: ANN001
        total = 0.0
        device = enc.y_movie.device
        buf = torch.empty(
            (self.batch_size, enc.y_movie.shape[0]), dtype=enc.y_movie.dtype, device=device
        )
        for start in range(0, self.users.size, self.batch_size):
            batch = self.users[start : start + self.batch_size]
            users = torch.as_tensor(batch, device=device)
            scores = model.rank_all(enc, users, out=buf[: batch.size]).float()
            self.train.mask(scores, batch, float("-inf"))
            top = torch.topk(scores, self.k, dim=1).indices.cpu().numpy()
            hits = hits_matrix(top, batch, self.relevant)
            total += float(ranking_at_k(hits, self.relevant.count(batch), self.k)["ndcg"].sum())
        return total / self.users.size


def _bpr(model, enc, users, movies, ratings, cfg: TrainConfig, gen) -> torch.Tensor:  # noqa: ANN001
    pos = ratings >= cfg.rank_threshold
    if not bool(pos.any()):
        return torch.zeros((), device=ratings.device)
    max_pos = max(cfg.rank_max_pairs // cfg.rank_negatives, 1)
    n_pos = int(pos.sum())
    if n_pos > max_pos:
        # About max_pos of them, each kept independently (cheaper than a permutation of millions).
        pos &= torch.rand(pos.shape, generator=gen, device=pos.device) < max_pos / n_pos
    u, m = users[pos], movies[pos]
    neg = torch.randint(
        0, model.cfg.n_movies, (cfg.rank_negatives, u.numel()), generator=gen, device=u.device
    )
    # Each positive is scored once and compared with its rank_negatives negatives.
    pos_score = model.rank_pairs(enc, u, m)
    neg_score = model.rank_pairs(enc, u.repeat(cfg.rank_negatives), neg.view(-1))
    diff = pos_score.repeat(cfg.rank_negatives) - neg_score
    return torch.nn.functional.softplus(-diff).mean()


def history_arrays(history: list[dict]) -> dict[str, np.ndarray]:
    keys = sorted({k for row in history for k in row})
    return {k: np.array([row.get(k, np.nan) for row in history], dtype=float) for k in keys}
