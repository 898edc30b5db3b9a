"""MovieLens conventions every stage shares, each defined here once.

It imports nothing, so ingest, features, the model on a GPU machine (torch and numpy only), the
warehouse's read API and the explorer all take their constants from the same place.
"""

RATING_MIN = 0.5  # stars: MovieLens ratings run from half a star ...
RATING_MAX = 5.0  # ... to five ...
RATING_STEP = 0.5  # ... in half-star steps
VALID_RATINGS = tuple(RATING_MIN + i * RATING_STEP for i in range(10))

# A held-out rating at least this makes the movie relevant to its user (the ranking protocol),
# and a rating at least this makes a movie one the user liked (explanations).
RELEVANT_RATING = 4.0

NO_GENRES = "(no genres listed)"  # what movies.csv says for a movie without genres

# The files of a MovieLens release: those every dataset needs, and those read when present.
REQUIRED_FILES = ("ratings.csv", "movies.csv")
OPTIONAL_FILES = ("tags.csv", "links.csv", "genome-scores.csv", "genome-tags.csv")
ALL_FILES = REQUIRED_FILES + OPTIONAL_FILES
