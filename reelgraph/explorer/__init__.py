"""reelgraph web explorer (see app.py)."""
