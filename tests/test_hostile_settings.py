"""Hardening, round two (issue 34), case 5: settings that passed the checks and failed late,
after ingest and features, with tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_hostile import listing, refused, tiny_run

# 5 ------------------------------------------- every --config value typed and bounded up front


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"graphsage": {"model": {"hidden": 100000000000}}}, "graphsage.model.hidden"),
        ({"graphsage": {"train": {"epochs": float("inf")}}}, "graphsage.train.epochs"),
        ({"graphsage": {"train": {"epochs": 10.5}}}, "graphsage.train.epochs"),
        ({"graphsage": {"train": {"epochs": True}}}, "graphsage.train.epochs"),
        ({"graphsage": {"train": {"epochs": "10"}}}, "graphsage.train.epochs"),
        ({"graphsage": []}, "graphsage must be a JSON object"),
        ({"graphsage": {"train": {"max_minutes": -1}}}, "graphsage.train.max_minutes"),
        ({"graphsage": {"train": {"rank_threshold": 99}}}, "graphsage.train.rank_threshold"),
        ({"graphsage": {"model": {"rank_filter_items": 10**9}}}, "rank_filter_items"),
        ({"graphsage": {"model": {"rating_basis_dim": -1}}}, "graphsage.model.rating_basis_dim"),
        ({"graphsage": {"model": {"rating_basis_dim": 10**6}}}, "graphsage.model.rating_basis_dim"),
        ({"baselines": {"ease": {"reg": -1}}}, "baselines.ease.reg"),
        ({"baselines": {"ials": {"factors": 0}}}, "baselines.ials.factors"),
        ({"baselines": {"lightgcn": {"lr": "fast"}}}, "baselines.lightgcn.lr"),
        ({"baselines": {"ease": 3}}, "baselines.ease must be a JSON object"),
    ],
)
def test_config_values_are_refused_before_any_work(
    body: dict, named: str, tiny_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("REELGRAPH_CACHE", str(tmp_path / "work" / "cache"))
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(body))  # inf is written as Infinity, which Python's json reads
    work = tmp_path / "work"
    err = refused(
        [*tiny_run(tiny_dir, work / "w.duckdb", work / "out"), "--config", str(cfg)], capsys
    )
    assert named in err and str(cfg) in err
    assert not work.exists()  # no warehouse, outputs or cache


def test_a_config_that_is_not_utf8_is_one_line(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_bytes('{"graphsage": {}}'.encode("utf-16"))
    err = refused(
        [*tiny_run(tiny_dir, tmp_path / "w.duckdb", tmp_path / "o"), "--config", str(cfg)], capsys
    )
    assert "not UTF-8" in err and listing(tmp_path) == [("c.json", cfg.stat().st_size)]


def test_a_config_saved_with_a_bom_is_read(tmp_path: Path) -> None:
    from reelgraph.tune.run_config import load

    cfg = tmp_path / "c.json"
    cfg.write_bytes(b"\xef\xbb\xbf" + b'{"graphsage": {"train": {"epochs": 3}}}')
    assert load(cfg).train == {"epochs": 3}


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-minutes", "-1"), ("--rank-threshold", "99"), ("--hidden", "100000")],
)
def test_flag_values_are_bounded_too(
    flag: str, value: str, tiny_dir: Path, tmp_path: Path, capsys
) -> None:
    err = refused([*tiny_run(tiny_dir, tmp_path / "w.duckdb", tmp_path / "o"), flag, value], capsys)
    assert flag in err and listing(tmp_path) == []


def test_the_shipped_configs_pass_their_own_checks() -> None:
    from reelgraph.tune.run_config import PACKAGE_CONFIGS, load

    for path in PACKAGE_CONFIGS.glob("*.json"):
        load(path)
