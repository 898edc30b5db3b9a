"""The five figures of a run (matplotlib, Agg backend; layouts seeded) and its model card."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display, also inside a Prefect worker
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from reelgraph.serve.embedding_quality import cosine_neighbours  # noqa: E402

HEADLINE = (("recall", 20), ("ndcg", 20), ("precision", 10), ("hit_rate", 20))


def training_curves(history: list[dict], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    trained = [(h["epoch"], h["train_rmse"]) for h in history if "train_rmse" in h]
    ax.plot(
        [e for e, _ in trained], [v for _, v in trained], label="train RMSE (supervision edges)"
    )
    val = [(h["epoch"], h["val_rmse"]) for h in history if "val_rmse" in h]
    ax.plot([e for e, _ in val], [v for _, v in val], label="validation RMSE")
    best = min(val, key=lambda x: x[1])
    ax.axvline(best[0], color="grey", linestyle=":", label=f"best epoch {best[0]} ({best[1]:.4f})")
    ax.set(
        title="GraphSAGE training: each output stops at its own best validation epoch",
        xlabel="epoch",
        ylabel="RMSE (stars)",
    )
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    ndcg_key = next((k for h in history for k in h if k.startswith("val_ndcg@")), None)
    if ndcg_key is not None:  # the ranking output is selected on this one, on its own axis
        rank = [(h["epoch"], h[ndcg_key]) for h in history if ndcg_key in h]
        ax2 = ax.twinx()
        ax2.plot(
            [e for e, _ in rank],
            [v for _, v in rank],
            color="tab:green",
            label=f"validation {ndcg_key[4:].upper()}",
        )
        top = max(rank, key=lambda x: x[1])
        ax2.axvline(
            top[0],
            color="tab:green",
            linestyle=":",
            label=f"best ranking epoch {top[0]} ({top[1]:.4f})",
        )
        ax2.set_ylabel(ndcg_key[4:].upper())
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="center right", fontsize=8)
    return _save(fig, out)


def embedding_umap(
    embeddings: np.ndarray,
    genres: list[str],
    out: Path,
    agreement: dict[str, float],
    seed: int = 0,
    max_points: int = 20_000,
) -> Path:
    """UMAP of the movies' ranking vectors (cosine), coloured by each movie's most specific
    genre: of its genres, the one rarest in the catalogue (MovieLens lists genres
    alphabetically, so the first listed would colour most movies Action or Adventure). The
    title states genre agreement@10 (reelgraph.serve.embedding_quality.genre_agreement) of these
    vectors, of the raw features and of random vectors."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(".state") / "numba"))
    import umap

    rng = np.random.default_rng(seed)
    idx = (
        np.arange(len(genres))
        if len(genres) <= max_points
        else np.sort(rng.choice(len(genres), max_points, replace=False))
    )
    # The neighbours UMAP starts from, exactly, by the products genre agreement uses: UMAP's
    # own search compiled for ~45 s in every fresh process (a 20k-point layout took 59 s with
    # it, 16 s without), and under 4,096 points it called a Python distance per pair.
    n_neighbors = max(2, min(15, idx.size - 1))
    near, cosine = cosine_neighbours(embeddings[idx], n_neighbors, self_first=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")  # no .transform later
        xy = umap.UMAP(
            n_neighbors=n_neighbors,
            min_dist=0.1,
            metric="cosine",
            random_state=seed,
            n_jobs=1,
            precomputed_knn=(near, 1.0 - cosine, None),
            force_approximation_algorithm=True,  # else under 4,096 points it ignores them
        ).fit_transform(embeddings[idx])
    lists = [genres[i].split("|") for i in idx]
    freq: dict[str, int] = {}
    for gs in lists:
        for g in gs:
            freq[g] = freq.get(g, 0) + 1
    dominant = np.array(
        [
            min((g for g in gs if g != "IMAX"), key=lambda g: (freq[g], g), default=gs[0])
            for gs in lists
        ]
    )
    fig, ax = plt.subplots(figsize=(8, 6.5))
    names, counts = np.unique(dominant, return_counts=True)
    cmap = plt.get_cmap("tab20")
    for j, name in enumerate(names[np.argsort(-counts)]):
        sel = dominant == name
        ax.scatter(
            xy[sel, 0],
            xy[sel, 1],
            s=3,
            color=cmap(j % 20),
            label=f"{name} ({sel.sum()})",
            alpha=0.7,
        )
    ax.set(
        title=(
            "Movies' ranking vectors as the lists score them (movie_embeddings: GraphSAGE's\n"
            "part and the item filter's rows); UMAP, cosine, coloured by most specific genre\n"
            f"genre agreement of 10 nearest neighbours: {agreement['model']:.3f} "
            f"(raw features {agreement['raw_features']:.3f}, random {agreement['random']:.3f})"
        ),
        xlabel="UMAP 1",
        ylabel="UMAP 2",
    )
    ax.legend(markerscale=4, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(fig, out)


# The reference report's colours: users orange, movies blue (movies that explain a pick lighter).
USER, MOVIE, LIKED = "#ff7f0e", "#1f77b4", "#9ecae1"
_LABEL_BOX = {"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85}


def user_graph(
    user_id: int, recs: pl.DataFrame, titles: dict[int, str], out: Path, seed: int = 0
) -> Path:
    """One user's top-5: user -> movie edges labelled with the predicted rating; dashed links to
    the movie they liked that explains each pick."""
    top = recs.filter(pl.col("user_id") == user_id).sort("rank").head(5)
    g = nx.Graph()
    me = f"user {user_id}"
    g.add_node(me, kind="user")
    for r in top.iter_rows(named=True):
        movie = _wrap(titles.get(r["movie_id"], str(r["movie_id"])))
        g.add_node(movie, kind="rec")
        g.add_edge(me, movie, rating=r["predicted_rating"], kind="rec")
        if r["because_movie_id"] is not None:
            liked = _wrap(titles.get(r["because_movie_id"], str(r["because_movie_id"])))
            g.add_node(liked, kind="liked")
            if not g.has_edge(movie, liked):
                g.add_edge(movie, liked, kind="because")
    pos = nx.spring_layout(g, seed=seed, k=1.6)
    fig, ax = plt.subplots(figsize=(11, 7.5))
    colors = {"user": USER, "rec": MOVIE, "liked": LIKED}
    rec_edges = [(a, b) for a, b, d in g.edges(data=True) if d["kind"] == "rec"]
    because = [(a, b) for a, b, d in g.edges(data=True) if d["kind"] == "because"]
    nx.draw_networkx_edges(g, pos, edgelist=rec_edges, ax=ax, width=1.5, edge_color="#555555")
    nx.draw_networkx_edges(
        g, pos, edgelist=because, ax=ax, style="dashed", width=1.0, edge_color="#aaaaaa"
    )
    nx.draw_networkx_nodes(
        g, pos, ax=ax, node_color=[colors[g.nodes[n]["kind"]] for n in g], node_size=700
    )
    _labels(ax, g, pos, font_size=9)
    _edge_labels(ax, pos, {e: f"{g.edges[e]['rating']:.2f}★" for e in rec_edges}, 8)
    for kind, label in (
        ("user", "user"),
        ("rec", "recommended movie (edge: predicted rating)"),
        ("liked", "movie they rated >= 4 that explains it (dashed)"),
    ):
        ax.scatter([], [], color=colors[kind], s=80, label=label)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=9, frameon=False)
    ax.set_title(
        f"User {user_id}: top-5 recommendations with predicted ratings, and why (because you liked)"
    )
    _frame(ax, pos)
    return _save(fig, out)


def users_network(
    recs: pl.DataFrame, titles: dict[int, str], users: list[int], out: Path, seed: int = 0
) -> Path:
    """Several users' top-5 lists as one network: shared movies connect users with similar
    tastes; each edge carries its predicted rating."""
    g = nx.Graph()
    for u in users:
        g.add_node(f"user {u}", kind="user")
        for r in recs.filter(pl.col("user_id") == u).sort("rank").head(5).iter_rows(named=True):
            movie = _wrap(titles.get(r["movie_id"], str(r["movie_id"])), 18)
            g.add_node(movie, kind="movie")
            g.add_edge(f"user {u}", movie, rating=r["predicted_rating"])
    pos = nx.kamada_kawai_layout(g) if len(g) > 2 else nx.spring_layout(g, seed=seed)
    fig, ax = plt.subplots(figsize=(13, 10))
    kinds = nx.get_node_attributes(g, "kind")
    degree = dict(g.degree())
    nx.draw_networkx_edges(g, pos, ax=ax, width=1.0, edge_color="#888888", alpha=0.8)
    movies = [n for n in g if kinds[n] == "movie"]
    nx.draw_networkx_nodes(
        g,
        pos,
        ax=ax,
        nodelist=[n for n in g if kinds[n] == "user"],
        node_color=USER,
        node_size=700,
        label="user",
    )
    nx.draw_networkx_nodes(
        g,
        pos,
        ax=ax,
        nodelist=movies,
        node_color=MOVIE,
        node_size=[250 + 200 * (degree[n] - 1) for n in movies],
        label="movie (size: users it is recommended to)",
    )
    _labels(ax, g, pos, font_size=7)
    _edge_labels(ax, pos, {(a, b): f"{d['rating']:.1f}" for a, b, d in g.edges(data=True)}, 6)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=9, frameon=False)
    ax.set_title(
        f"Top-5 recommendations of {len(users)} users: users orange, movies blue, "
        f"predicted rating on each edge"
    )
    _frame(ax, pos)
    return _save(fig, out)


def _wrap(title: str, width: int = 22) -> str:
    """A title on at most two lines, so labels stay narrow."""
    import textwrap

    lines = textwrap.wrap(title, width) or [title]
    return "\n".join(lines[:2]) + ("…" if len(lines) > 2 else "")


def _labels(ax, g: nx.Graph, pos: dict, font_size: int) -> None:  # noqa: ANN001
    """Names under their nodes (on a white box, so edges never hide them; nodes stay visible)."""
    ys = np.array([y for _, y in pos.values()])
    dy = 0.035 * (ys.max() - ys.min() or 1.0)
    below = {n: (x, y - dy) for n, (x, y) in pos.items()}
    nx.draw_networkx_labels(
        g, below, ax=ax, font_size=font_size, bbox=_LABEL_BOX, verticalalignment="top"
    )


def _edge_labels(ax, pos: dict, labels: dict, font_size: int) -> None:  # noqa: ANN001
    """Each label at its edge's middle, on a white box (networkx's curved-label helper fails
    when two nodes nearly overlap)."""
    for (a, b), text in labels.items():
        x, y = (np.asarray(pos[a]) + np.asarray(pos[b])) / 2
        ax.text(
            x,
            y,
            text,
            fontsize=font_size,
            color="#d62728",
            ha="center",
            va="center",
            bbox=_LABEL_BOX,
            zorder=3,
        )


def _frame(ax, pos: dict) -> None:  # noqa: ANN001
    """Room around the nodes so labels at the edges are never cut."""
    xy = np.array(list(pos.values()))
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = (hi - lo) * 0.18 + 0.05
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    ax.axis("off")


def metrics_bars(metrics: list[dict], out: Path) -> Path:
    """Headline ranking metrics of GraphSAGE against each baseline on the same test split."""
    models = [m["model"] for m in metrics]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.8 / len(HEADLINE)
    x = np.arange(len(models))
    for j, (name, k) in enumerate(HEADLINE):
        key = f"{name}@{k}"
        ax.bar(x + j * width, [m.get(key, 0.0) for m in metrics], width, label=key)
    ax.set_xticks(x + width * (len(HEADLINE) - 1) / 2, models)
    ax.set(
        title="Full-catalogue ranking on the test split (train movies excluded, relevant = rating >= 4)",
        ylabel="value",
    )
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out)


def _save(fig, out: Path) -> Path:  # noqa: ANN001
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def load_metrics(path: Path) -> list[dict]:  # a run's RunLayout.metrics
    return json.loads(path.read_text())
