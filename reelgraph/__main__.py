"""`python -m reelgraph ...`: the same command line as `reelgraph ...`."""

from reelgraph.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
