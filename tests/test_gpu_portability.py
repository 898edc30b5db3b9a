"""The model, training, scoring and evaluation code must run on a GPU machine that has torch,
torch_geometric and numpy but no Prefect, DuckDB, Polars or pydantic."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_model_stack_imports_without_prefect_duckdb_or_polars() -> None:
    code = textwrap.dedent("""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in {'prefect', 'duckdb', 'polars', 'pyarrow', 'pydantic'}:
                    raise ImportError(f'{name} is not on the GPU machine')
        sys.meta_path.insert(0, Block())
        import reelgraph.graph.ratings, reelgraph.model.recommender, reelgraph.train.fit, reelgraph.model.scoring
        import reelgraph.evaluate.protocol, reelgraph.evaluate.baselines, reelgraph.evaluate.metrics, reelgraph.synthetic.graph
        from reelgraph.tune import run_config  # bench/bench_gpu.py reads the shipped settings
        assert run_config.read_shipped('synthetic-25m').train  # bench/bench_gpu.py's settings
        print('ok')
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
