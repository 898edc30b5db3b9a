"""The ranking output's parts, alone and together, on one run's evaluated model: GraphSAGE's part
alone (the item filter's weight 0; with and without the run's popularity penalty), the item
filter alone, and the fused score the run chose,
each on validation (where the weight was chosen) and on test (read for this report only).

    python bench/bench_filter_ablation.py --run-dir outputs/runs/RUN_ID --graph CKPT/graph.pt

--graph: the graph.pt the run's training left in its checkpoint folder (outputs/checkpoints/
<split>-<hash>/graph.pt). Results: bench/results/filter-ablation-<run>.json and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers import stamp, table  # noqa: E402
from reelgraph.evaluate.baselines import GraphSAGEAdapter  # noqa: E402
from reelgraph.evaluate.protocol import evaluate  # noqa: E402
from reelgraph.graph.ratings import RatingGraph  # noqa: E402
from reelgraph.model.saved import load_model  # noqa: E402
from reelgraph.model.scoring import Scorer  # noqa: E402

METRICS = (("ndcg", 20), ("recall", 20), ("precision", 10), ("coverage", 20))


class FilterAlone:
    """The item filter's scores <f_u, q_m> alone (GraphSAGE's part left out)."""

    name = "item_filter"

    def __init__(self, scorer: Scorer) -> None:
        d = scorer.model.cfg.rank_dim
        self.f, self.q = scorer.enc.y_user[:, d:], scorer.enc.y_movie[:, d:]

    def score(self, users: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return torch.mm(self.f[users], self.q.T, out=out)

    def predict(self, users: torch.Tensor, movies: torch.Tensor) -> None:
        return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--graph", type=Path, required=True)
    args = p.parse_args()
    graph = RatingGraph.load(args.graph)
    model, _ = load_model(args.run_dir / "eval_model.pt")
    chosen = float(model.item_filter.weight)
    penalty = float(model.popularity_penalty)
    variants = {}
    for label, weight, pen in (
        ("GraphSAGE's part alone, as trained (no popularity penalty)", 0.0, 0.0),
        (f"GraphSAGE's part alone, penalty {penalty:g}", 0.0, penalty),
        (f"both (w = {chosen:g}, penalty {penalty:g}): the list", chosen, penalty),
    ):
        model.item_filter.weight.fill_(weight)
        model.popularity_penalty.fill_(pen)
        variants[label] = GraphSAGEAdapter(Scorer.from_model(model, graph, torch.device("cpu")))
    model.item_filter.weight.fill_(1.0)  # the filter's rows at weight 1: its own ranking
    variants["the item filter alone"] = FilterAlone(
        Scorer.from_model(model, graph, torch.device("cpu"))
    )
    rows = []
    for label, rec in variants.items():
        row = {"variant": label}
        for part in ("val", "test"):
            m = evaluate(rec, graph, part, k_values=(10, 20)).metrics
            for name, k in METRICS:
                row[f"{part} {name}@{k}"] = round(m[(name, k)], 4)
        rows.append(row)
    out = ROOT / "bench" / "results" / f"filter-ablation-{args.run_dir.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**stamp(), "run_dir": str(args.run_dir), "rows": rows}, indent=2))
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
