from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from reelgraph import figures, model_card, publish, run_summary
from reelgraph.evaluate import genre_agreement_report
from reelgraph.graph import RatingGraph
from reelgraph.publish import ranking_unit_rows
from reelgraph.run_layout import RunLayout
from reelgraph.scoring import Scorer
from warehouse import connect


@task(name="prepare-publish")
def prepare_task(
    graph_path: str, model_path: str, run_dir: str, k: int = 20, device: str = "auto"
) -> dict:
    """Score every user; the run's mart rows as Parquet in its folder (the warehouse untouched)."""
    prepared = publish.prepare_run(RatingGraph.load(graph_path), model_path, run_dir, k, device)
    return dataclasses.asdict(prepared)


@task(name="publish")
def publish_task(warehouse: str, record: dict, prepared: dict, retention: int = 5) -> dict:
    """Marts, run registry and *_latest views of the run, switched in one transaction."""
    rec = publish.RunRecord(
        **{**record, "started_at": dt.datetime.fromisoformat(record["started_at"])}
    )
    result = publish.commit_run(warehouse, rec, publish.PreparedRun(**prepared), retention)
    get_run_logger().info(
        "published %s: %d recommendations; pruned %s",
        rec.run_id,
        result.recommendations,
        result.pruned_runs,
    )
    return dataclasses.asdict(result)


@task(name="figures")
def figures_task(
    warehouse: str,
    run_id: str,
    run_dir: str,
    graph_path: str,
    model_path: str,
    dataset: str,
    split: dict,
    train: dict,
    served: dict | None = None,
    seed: int = 0,
) -> dict:
    """The five figures, the model card, and the run summary / link artifacts. The embedding
    figure and its genre agreement read the ranking vectors of the model that serves the lists."""
    out = RunLayout(Path(run_dir))
    fig_dir = out.figures
    con = connect(warehouse, read_only=True)
    try:
        movies = con.sql("SELECT movie_id, title, genres FROM raw.movies").pl()
    finally:
        con.close()
    titles = dict(zip(movies["movie_id"].to_list(), movies["title"].to_list(), strict=True))
    recs = pl.read_parquet(out.dir / publish.MART_FILES["recommendations"])
    graph = RatingGraph.load(graph_path)
    scorer = Scorer.load(model_path, graph, "cpu")
    genre_of = dict(zip(movies["movie_id"].to_list(), movies["genres"].to_list(), strict=True))
    y = ranking_unit_rows(scorer)
    agreement, shown = genre_agreement_report(
        y,
        graph.x_movie.numpy(),
        [genre_of[int(i)] for i in graph.movie_ids.tolist()],
        np.bincount(graph.part("train")[1].numpy(), minlength=graph.n_movies),
        seed,
    )
    history = json.loads(out.history("eval_model").read_text())
    users = recs["user_id"].unique().sort().to_list()
    paths = [
        figures.training_curves(history, fig_dir / "training_curves.png"),
        figures.embedding_umap(
            y[shown],
            [genre_of[int(graph.movie_ids[i])] for i in shown],
            fig_dir / "movie_embeddings_umap.png",
            agreement,
            seed,
        ),
        figures.user_graph(users[0], recs, titles, fig_dir / "user_top5_graph.png", seed),
        figures.users_network(
            recs, titles, users[: min(8, len(users))], fig_dir / "users_top5_network.png", seed
        ),
        figures.metrics_bars(
            figures.load_metrics(out.metrics), fig_dir / "metrics_vs_baselines.png"
        ),
    ]
    out.embedding_quality.write_text(json.dumps(agreement, indent=2))
    comparison_md = out.comparison.read_text()
    out.model_card.write_text(
        model_card.model_card(
            run_id, dataset, split, train, served, comparison_md, agreement, [str(p) for p in paths]
        )
    )
    _summary_artifacts(run_id, out, paths, dataset, split["split_id"], served, comparison_md)
    get_run_logger().info("wrote %d figures and the model card to %s", len(paths), out.dir)
    return {
        "figures": [str(p) for p in paths],
        "model_card": str(out.model_card),
        "genre_agreement": agreement,
    }


def _summary_artifacts(
    run_id: str,
    out: RunLayout,
    paths: list[Path],
    dataset: str,
    split_id: str,
    served: dict | None,
    comparison_md: str,
) -> None:
    """A link artifact per figure and the run-summary markdown (file:// links: the stage's own
    record; the pipeline run's summary links the same figures over http)."""
    for p in paths:
        create_link_artifact(
            link=p.resolve().as_uri(),
            link_text=p.name,
            key=f"figure-{p.stem.replace('_', '-')}",
            description=f"run {run_id}: {p.stem.replace('_', ' ')}",
        )
    recs_file = out.dir / publish.MART_FILES["recommendations"]
    files = ", ".join(
        f"[{p.name}]({p.resolve().as_uri()})"
        for p in (recs_file, out.metrics, out.model, out.model_card)
    )
    lists_from = run_summary.lists_source(served is not None)
    create_markdown_artifact(
        f"# reelgraph run {run_id}\n\nDataset `{dataset}`, split `{split_id}`. "
        f"Test metrics: the model trained on the train part; published lists: {lists_from}.\n\n"
        f"## Test metrics\n\n{comparison_md}\n"
        f"\n## Figures\n\n"
        + "\n".join(f"- [{p.name}]({p.resolve().as_uri()})" for p in paths)
        + f"\n\n## Files\n\n{files}\n",
        key="run-summary",
        description=f"run {run_id}",
    )
