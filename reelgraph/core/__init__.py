"""The common core every stage shares: MovieLens conventions, errors meant for the terminal,
where project state lives (settings), a run's folder layout and identity, SIGTERM handling and
process memory settings.

Imports nothing of the project (and nothing heavy): every other package may import it.
"""
