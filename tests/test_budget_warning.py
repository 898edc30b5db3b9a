"""A training the wall-clock budget cut says so: one warning line, in the pipeline's summary
artifact and on its model card; one its own stopping rule ended says nothing."""

from __future__ import annotations

from reelgraph.serve.model_card import _training_section
from reelgraph.serve.run_summary import budget_warning, pipeline_summary

TRAIN = {
    "train_config": {
        "max_minutes": 10.0,
        "message_fraction": 1.0,
        "lr": 0.005,
        "weight_decay": 0.05,
        "rank_loss": "softmax",
        "rank_negatives": 2048,
        "rank_in_batch": True,
        "rank_threshold": 3.5,
        "rank_lr": 0.003,
        "rank_select_k": 20,
        "seed": 0,
    },
    "best_epoch": 41,
    "best_rank_epoch": 38,
    "epochs_run": 53,
    "seconds": 600.0,
    "device": "cpu",
}


def test_a_budget_cut_gives_one_warning_line_in_the_summary_and_the_card() -> None:
    cut = {**TRAIN, "stopped_by_budget": True}
    line = budget_warning(cut)
    assert line is not None and "\n" not in line
    assert "10-minute training budget" in line and "epoch 53" in line and "--max-minutes" in line
    summary = pipeline_summary("r1", "d", "lists", {"train": 600.0}, "| t |", [], warnings=(line,))
    assert summary.count(line) == 1
    assert "training budget, not by patience" in _training_section(cut)


def test_a_training_that_stopped_on_its_own_says_nothing() -> None:
    done = {**TRAIN, "stopped_by_budget": False}
    assert budget_warning(done) is None
    assert "warning" not in pipeline_summary("r1", "d", "lists", {"train": 1.0}, "| t |", [])
    assert "budget" not in _training_section(done)
