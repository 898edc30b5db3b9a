"""Run identity and the small records every stage of a run shares."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable and unique: 20261126T190501Z-3fa2c1."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def config_hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]
