from __future__ import annotations

from prefect import flow

from reelgraph import runs, settings
from reelgraph.model import ModelConfig
from reelgraph.train import TrainConfig
from tasks.model_tasks import train_task


@flow(name="train")
def train_flow(
    split_id: str,
    warehouse: str | None = None,
    outputs: str | None = None,
    run_id: str | None = None,
    epochs: int = TrainConfig.epochs,
    lr: float = TrainConfig.lr,
    hidden: int = ModelConfig.hidden,
    embed_dim: int = ModelConfig.embed_dim,
    dropout: float = ModelConfig.dropout,
    id_embeddings: bool = ModelConfig.id_embeddings,
    rank_weight: float = TrainConfig.rank_weight,
    device: str = "auto",
    seed: int = 0,
) -> dict:
    """Train the 2-layer GraphSAGE rating model on a split whose features are built."""
    run_id = run_id or runs.new_run_id()
    out = settings.outputs_dir(outputs)
    return train_task(
        str(settings.warehouse_path(warehouse)),
        split_id,
        run_id,
        str(out / "runs" / run_id),
        str(settings.checkpoints_dir(outputs)),
        {"epochs": epochs, "lr": lr, "rank_weight": rank_weight, "device": device, "seed": seed},
        {
            "hidden": hidden,
            "embed_dim": embed_dim,
            "dropout": dropout,
            "id_embeddings": id_embeddings,
        },
    )
