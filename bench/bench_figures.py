"""The embedding figure's two costs in a fresh process: genre agreement (model, raw features,
random) and the UMAP figure, on clustered synthetic movie vectors (64 dims, 8 genre groups).
`--code DIR` times another checkout's code (an A/B between commits, one after the other):

    python bench/bench_figures.py --movies 59047
    git worktree add /tmp/old COMMIT && python bench/bench_figures.py --movies 59047 --code /tmp/old
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENRES = (
    "Drama",
    "Comedy",
    "Horror|Thriller",
    "Children|Comedy",
    "Romance|Drama",
    "Action",
    "Sci-Fi|Action",
    "Documentary",
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--movies", type=int, default=59_047)
    ap.add_argument("--code", default=str(HERE.parent), help="the checkout whose code is timed")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, args.code)
    import numpy as np
    from helpers import stamp

    from reelgraph.serve import figures
    from reelgraph.serve.embedding_quality import genre_agreement_report

    rng = np.random.default_rng(0)
    group = rng.integers(0, len(GENRES), args.movies)
    centres = 2 * rng.normal(size=(len(GENRES), 64))
    vectors = (rng.normal(size=(args.movies, 64)) + centres[group]).astype(np.float32)
    features = (vectors[:, :20] + rng.normal(size=(args.movies, 20))).astype(np.float32)
    genres = [GENRES[i] for i in group]
    t = time.perf_counter()
    agreement, shown = genre_agreement_report(
        vectors, features, genres, np.full(args.movies, 10), seed=0
    )
    agreement_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        figures.embedding_umap(
            vectors[shown], [genres[i] for i in shown], Path(tmp) / "umap.png", agreement, 0
        )
        umap_s = time.perf_counter() - t
    row = {
        "code": args.code,
        "movies": args.movies,
        "agreement_s": round(agreement_s, 1),
        "umap_s": round(umap_s, 1),
        "agreement": agreement,
    }
    print(json.dumps({**row, **stamp()}), flush=True)


if __name__ == "__main__":
    main()
