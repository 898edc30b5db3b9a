"""The model card of a published run: which model produced the metrics and which the lists, the
model, data, training, evaluation and embeddings, in markdown."""

from __future__ import annotations

from pathlib import Path


def model_card(
    run_id: str,
    dataset: str,
    split: dict,
    train: dict,
    served: dict | None,
    comparison_md: str,
    agreement: dict[str, float],
    figures: list[str],
) -> str:
    """train: the evaluated model's manifest; served: the refit model's (None: no refit)."""
    mc = train["model_config"]
    test = train["metrics"]["test"]
    figs = "\n".join(f"![{Path(f).stem}](figures/{Path(f).name})" for f in figures)
    lists = _lists_text(served)
    rank_path = (
        f"hidden {mc['rank_hidden']}, {mc['rank_dim']}-d output, learned id embeddings: "
        f"{mc['rank_id_embeddings']}, aggregation {mc['rank_aggr']}, layers combined by "
        f"{mc['rank_combine']}, `rates_dev` relation: {mc['rank_rating_messages']}, "
        f"temperature {mc['rank_temperature']}"
    )
    return f"""# Model card: reelgraph GraphSAGE, run {run_id}

## Which model is which
**Test metrics** below come from the model trained on the train part of split
`{split["split_id"]}`, each output selected on the validation part, scored once on the test part.
{lists}

## Model
Two 2-layer GraphSAGE encoders (PyG `SAGEConv` update rule over torch-native CSR adjacency) on
the bipartite user-movie graph, messages in both directions.
- Rating output: predicted rating = global mean + user bias + movie bias + <z_u, z_m> (stars),
  hidden {mc["hidden"]}, {mc["embed_dim"]}-d, relations `rates` (mean of neighbours) and `rates_dev`
  (weighted by rating minus the global mean), id embeddings: {mc["id_embeddings"]}, dropout {mc["dropout"]}{_basis_text(mc)}{_members_text(mc)}.
- Ranking output (the lists): {_score_text(train)}, {rank_path}.
Inductive: a new user's ratings give their vectors without retraining.

## Data
Dataset `{dataset}`; split `{split["split_id"]}` ({split["counts"]["train"]:,} train /
{split["counts"]["val"]:,} validation / {split["counts"]["test"]:,} test ratings; cold-start
users {split["counts"]["cold_users"]}, movies {split["counts"]["cold_movies"]}). Features come
from train ratings only.

{_training_section(train)}
## Evaluation (test split; every model on the same split through the same code)
GraphSAGE test RMSE {test["rmse"]:.4f} stars, MAE {test["mae"]:.4f}. Ranking over the full
catalogue with each user's train movies excluded; relevant = test rating >= 4. `mse_scaled` and
`ndcg_ref` are the reference report's figures (ratings min-max scaled to [0, 1]; NDCG over each
user's own test movies, where a random order scores above 0.9), shown for comparison only.

{comparison_md}

## Embeddings
Genre agreement of each movie's 10 nearest neighbours (mean Jaccard overlap of genre sets,
{agreement["movies"]:,} movies with at least 5 ratings{_sampled(agreement)}): ranking embeddings **{agreement["model"]:.3f}**,
raw movie features {agreement["raw_features"]:.3f}, random vectors {agreement["random"]:.3f}.
`reelgraph similar` and the "because you liked" explanations use these vectors.

## Limitations
- Trained and evaluated offline on one split; no online or temporal validation unless the
  split protocol is `temporal`.
- The least relevant list holds the movies of lowest predicted rating: what the user is expected
  to dislike, not merely what they would never pick.
- Cold-start users and movies are scored from features alone; explanations ("because you liked")
  are the user's highly rated movies nearest in embedding space, not causal reasons.

## Figures
{figs}
"""


def _basis_text(mc: dict) -> str:
    dim = mc.get("rating_basis_dim", 0)
    if dim == 0:
        return ""
    return (
        f"; each movie also reads its {dim} fixed rows of the spectral basis of who rated what "
        "in train (the top singular vectors of the normalised interactions)"
    )


def _members_text(mc: dict) -> str:
    k = mc.get("rating_members", 1)
    if k == 1:
        return ""
    return (
        f"; the average of {k} such encoders, each from its own initial weights and trained on "
        f"its own error ({k * mc['embed_dim']}-d z: theirs side by side over sqrt({k}))"
    )


def _score_text(train: dict) -> str:
    """What the ranking score is made of: the encoder's part, and the item filter's if any."""
    mc, chosen = train["model_config"], train.get("item_filter") or {}
    penalty = (train.get("popularity_penalty") or {}).get("penalty") or 0.0
    bias = f"(c_m - {penalty:g} log(1 + n_m))" if penalty else "c_m"
    own = f"score = <y_u, y_m> + {bias}"
    if penalty:
        own += (
            f" (n_m: the movie's train ratings; the penalty {penalty:g} chosen on validation as "
            "the strongest within 0.5% of the best NDCG)"
        )
    if not chosen:
        return own
    curve = chosen.get("val_ndcg", {})
    k = train["train_config"]["rank_select_k"]
    measured = (
        f" (validation NDCG@{k}: GraphSAGE's part alone {curve['0.0']:.4f}, the filter alone "
        f"{chosen['val_ndcg_filter_alone']:.4f}, both {curve[str(chosen['weight'])]:.4f})"
        if curve
        else ""
    )
    if not chosen["weight"]:
        return f"{own}, GraphSAGE's part alone: the item filter's weight was chosen 0 on validation{measured}"
    return (
        f"{own} + w <f_u, q_m>: GraphSAGE's part plus a closed-form channel, a rank-"
        f"{mc['rank_filter_dim']} EASE item-item filter (L2 {mc['rank_filter_reg']}) over the "
        f"{mc['rank_filter_items']:,} most rated movies, fitted on the train ratings; its weight "
        f"w = {chosen['weight']} chosen on validation{measured}"
    )


def _lists_text(served: dict | None) -> str:
    """Which model the published lists come from (served: the refit's manifest, or None)."""
    if served is not None:
        start = (
            "starting from the evaluated model's weights, for a share of the epoch counts chosen "
            "on validation"
            if served.get("warm_start")
            else "from scratch, for the epoch counts chosen on validation"
        )
        return (
            f"**Published lists and embeddings** come from the same settings refit on every "
            f"rating (train, validation and test: split `{served['split_id']}`), {start} "
            f"(rating output {served['best_epoch']}, ranking output "
            f"{served['best_rank_epoch']} epochs), {served['seconds']:.0f} s on {served['device']}. "
            "They exclude every movie the user has rated. Their quality cannot be measured (no "
            "rating is held out from it); bench/bench_refit.py compares the ways to refit on a "
            "held-out half of the validation part."
        )
    else:
        return (
            "**Published lists and embeddings** come from the evaluated model itself (`--no-refit`); "
            "they exclude every movie the user has rated, held-out ones included."
        )


def _training_section(train: dict) -> str:
    """The model card's training paragraph, from the evaluated model's manifest."""
    tc = train["train_config"]
    budget = (
        f"; stopped by the {tc['max_minutes']}-minute training budget, not by patience "
        "(the outputs may still have been improving)"
        if train.get("stopped_by_budget")
        else ""
    )
    messages = (
        "every train edge passes messages and is supervised"
        if tc["message_fraction"] >= 1.0
        else f"each epoch {tc['message_fraction']:.0%} of train edges pass messages and the rest "
        "are supervised"
    )
    return f"""## Training
Mini-batches; {messages}. Rating output: MSE, AdamW (lr {tc["lr"]}, weight decay {tc["weight_decay"]}){_average_text(tc)},
selected at its best validation RMSE (epoch {train["best_epoch"]}). Ranking output: {_ranking_loss_text(train)},
positives rated >= {tc["rank_threshold"]}, AdamW (lr {tc["rank_lr"]}), selected at its best validation
NDCG@{tc["rank_select_k"]} (epoch {train["best_rank_epoch"]}). {train["epochs_run"]} epochs in
{train["seconds"]:.0f} s on {train["device"]}, seed {tc["seed"]}{budget}.
"""


def _average_text(tc: dict) -> str:
    """How the rating output's weights were read (TrainConfig.rating_ema; 0 or absent: as the
    last step left them)."""
    decay = tc.get("rating_ema", 0.0)
    if not decay:
        return ""
    return (
        f"; validated and kept as the moving average of its weights over its steps (decay "
        f"{decay:g} a step)"
    )


def _ranking_loss_text(train: dict) -> str:
    """What the ranking output was trained with (reelgraph.train.losses)."""
    tc, mc = train["train_config"], train.get("model_config", {})
    if tc["rank_loss"] == "multinomial":
        text = (
            f"multinomial likelihood of each user's positives over the whole catalogue (batches "
            f"of {tc['rank_batch_users']} users; on sampled neighbourhoods over the batch's "
            f"positives and {tc['rank_negatives']} uniform negatives, logQ-corrected)"
        )
    else:
        text = (
            f"{tc['rank_loss']} loss over {tc['rank_negatives']} sampled negatives (in-batch "
            f"too: {tc['rank_in_batch']}, logQ-corrected)"
        )
    if tc.get("rank_content_weight"):
        text += (
            f", plus {tc['rank_content_weight']} x the alignment of each movie's vector with a "
            "linear map of its features (movies with alike features stay near each other)"
        )
    if mc.get("rank_init") == "spectral":
        text += (
            "; id embeddings started from the top singular vectors of the normalised train "
            "interactions"
        )
    return text


def _sampled(agreement: dict) -> str:
    queried = agreement.get("movies_queried", agreement["movies"])
    return "" if queried >= agreement["movies"] else f"; the mean over {queried:,} of them, sampled"
