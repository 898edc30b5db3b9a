"""Types and bounds of every model setting a run takes (GraphSAGE's and each baseline's), from a
flag, a `--config` file or a deployment parameter, checked before any work starts.

The settings classes (ModelConfig, TrainConfig, EASEConfig, ...) check what makes a value
meaningless for their own code; this adds what a typo or a hostile file can ask for that no
single class sees: a string or a boolean where a number goes, infinity, a negative weight, a
rating threshold off the star scale, or a size that would take all memory or run for years.
The rules go by the setting's name, so a baseline gets the same checks as GraphSAGE.

Imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing

from reelgraph.core.conventions import RATING_MAX, RATING_MIN

# Widths of vectors (memory grows with their square in places): at least 1, at most this.
MAX_WIDTH = 4096
WIDTHS = {"hidden", "embed_dim", "rank_hidden", "rank_dim", "dim", "factors", "k"}
ZERO_ALLOWED_WIDTHS = {"rank_filter_dim", "rating_basis_dim"}  # 0 turns the part off
# Counts that must be at least 1, each with the most a run can sensibly ask for.
COUNTS = {
    "epochs": 100_000,
    "iterations": 10_000,
    "layers": 8,
    "rating_members": 64,  # each one encoder's training
    "batch_size": 10_000_000,
    "rating_batch_size": 10_000_000,
    "rank_batch_size": 10_000_000,
    "rank_batch_users": 1_000_000,
    "max_steps_per_epoch": 1_000_000,
    "rating_max_steps": 1_000_000,
    "rank_max_steps": 1_000_000,
    "rank_max_user_steps": 1_000_000,
    "rank_negatives": 10_000_000,
    "rank_select_k": 1000,
    "rank_select_users": 10_000_000,
    # item-item models hold items x items floats: 50,000 movies is 10 GB in float32
    "max_items": 50_000,
    "rank_filter_items": 50_000,
}
POSITIVE = {"lr", "rank_lr", "reg", "regularization", "rank_filter_reg", "rank_init_scale"}
THRESHOLDS = {"threshold", "rank_threshold", "relevance_threshold"}  # on the star scale


class SettingError(ValueError):
    """A setting's value cannot work; the message names the setting."""


def check(owner: str, cls: type, values: dict) -> None:
    """Each of `values` (settings of the dataclass cls) by its declared type and the bounds
    above; `owner` prefixes the setting's name in the message (for example "graphsage.train")."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for name, value in values.items():
        if name not in known:
            continue  # unknown names are refused by the caller, with the known ones listed
        where = f"{owner}.{name}"
        _check_type(where, hints[name], value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_bounds(where, name, value)


def _check_type(where: str, hint: object, value: object) -> None:
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    if value is None:
        if type(None) not in options:
            raise SettingError(f"{where} cannot be null")
        return
    if not any(_is_a(option, value) for option in options if option is not type(None)):
        wanted = " or ".join(_name(o) for o in options if o is not type(None))
        raise SettingError(f"{where} must be {wanted}, got {value!r}")


def _is_union(hint: object) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _is_a(hint: object, value: object) -> bool:
    origin = typing.get_origin(hint)
    if origin is tuple:
        items = typing.get_args(hint)
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(items)
            and all(_is_a(h, v) for h, v in zip(items, value, strict=True))
        )
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # an int is a float here, as in JSON
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def _name(hint: object) -> str:
    if typing.get_origin(hint) is tuple:
        return f"a list of {len(typing.get_args(hint))} numbers"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _check_bounds(where: str, name: str, value: float) -> None:
    if not math.isfinite(value):
        raise SettingError(f"{where} must be a finite number, got {value}")
    if value < 0:
        raise SettingError(f"{where} must be 0 or more, got {value}")
    if name in WIDTHS and not 1 <= value <= MAX_WIDTH:
        raise SettingError(f"{where} must be between 1 and {MAX_WIDTH}, got {value}")
    if name in ZERO_ALLOWED_WIDTHS and value > MAX_WIDTH:
        raise SettingError(f"{where} must be between 0 and {MAX_WIDTH}, got {value}")
    if name in COUNTS and not 1 <= value <= COUNTS[name]:
        raise SettingError(f"{where} must be between 1 and {COUNTS[name]:,}, got {value}")
    if name in POSITIVE and value <= 0:
        raise SettingError(f"{where} must be above 0, got {value}")
    if name in THRESHOLDS and not RATING_MIN <= value <= RATING_MAX:
        raise SettingError(
            f"{where} must be on the star scale, {RATING_MIN} to {RATING_MAX}, got {value}"
        )
