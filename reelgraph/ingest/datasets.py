"""MovieLens release catalogue and acquisition: download (with resume), verify, extract safely.

A dataset ends up as a folder of CSV files plus a `DatasetManifest` naming it: the files' sha256,
one checksum over all of them (the cache key of every later stage), and whether the files were
verified against hashes published for that release.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from reelgraph.core.conventions import ALL_FILES, REQUIRED_FILES
from reelgraph.core.errors import DatasetError, DownloadError, OfflineError, ParameterError
from reelgraph.core.settings import SOURCE_ENV
from reelgraph.ingest.archives import extract_zip

log = logging.getLogger(__name__)

GROUPLENS = "https://files.grouplens.org/datasets/movielens"
MIRROR_ENV = "REELGRAPH_MIRROR"  # a base URL serving the same zips (and .md5 files) as GROUPLENS


# A dataset name becomes a folder name in the download cache: letters, digits, '.', '_', '-',
# starting with a letter or digit, so '.', '..' and any path can never reach the file system.
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def dataset_name(name: str) -> str:
    if not DATASET_NAME.match(name or "") or ".." in name:
        raise ParameterError(
            f"--dataset {name!r}: use 1-64 letters, digits, '.', '_' or '-' starting with a "
            f"letter or digit (it names a cache folder), e.g. ml-latest-small or my-export"
        )
    return name


@dataclasses.dataclass(frozen=True)
class Release:
    name: str
    url: str
    # Hashes of the extracted files as published for the release: {file: "algo:hex"}.
    file_hashes: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def md5_url(self) -> str:
        return self.url + ".md5"


CATALOGUE: dict[str, Release] = {
    "ml-latest-small": Release(
        "ml-latest-small",
        f"{GROUPLENS}/ml-latest-small.zip",
        {
            "ratings.csv": "md5:325a6f09399d1c45671f187505e1a100",
            "movies.csv": "md5:ed94fab72b62442ef8150d9446e000d6",
            "tags.csv": "md5:1b2d21a7be1cc23d327b11155a4a6aea",
            "links.csv": "md5:316913f95cdad64c745ca22f3630e230",
        },
    ),
    "ml-25m": Release(
        "ml-25m",
        f"{GROUPLENS}/ml-25m.zip",
        {
            "genome-scores.csv": "sha256:dcee649a8ba5c02b14b5ac5ff34dd27edcf58beff1d902cdf9c114927d1f8f70",
            "genome-tags.csv": "sha256:c84bf1e2addbf38432426a2bb2a117a59d76c0873fc875fe8764e92842fd3bfb",
            "links.csv": "sha256:dd07bbd9aa8e76d263d8323ddd18ec87b6e00a79a68a5896afe9a737af22322b",
            "movies.csv": "sha256:c50dea6973e619f9bc1decd4afa3e35358b83a5fb663dac0ec82252a011d023d",
            "ratings.csv": "sha256:9c85525758597dca76e8d98cebb9c13e018c2317b09a0878b6d383179526e385",
            "tags.csv": "sha256:84793c391a8e2a8b93190b5e780f781563a184c413d02ff2104cc2f442e2830a",
        },
    ),
    # No file hashes are pinned for these two: the zip is checked against the .md5 that
    # GroupLens publishes beside it when downloaded, and a local copy loads as unverified.
    "ml-20m": Release("ml-20m", f"{GROUPLENS}/ml-20m.zip"),
    "ml-latest": Release("ml-latest", f"{GROUPLENS}/ml-latest.zip"),
}


@dataclasses.dataclass(frozen=True)
class DatasetManifest:
    """What later stages need to know about a dataset: small, hashable, JSON-friendly."""

    dataset: str
    directory: str
    files: dict[str, str]  # file name -> sha256 of its bytes
    checksum: str  # sha256 over the sorted (name, sha256) pairs
    verified: bool
    verification: str  # how (or why not) the files were checked
    source: str

    @staticmethod
    def from_dict(d: dict) -> DatasetManifest:
        return DatasetManifest(**d)


def acquire(
    dataset: str,
    source: str | Path | None = None,
    cache_dir: str | Path = Path("data") / "cache",
    opener: Callable[..., object] | None = None,
) -> DatasetManifest:
    """Return a verified folder of the dataset's CSVs.

    With `source`, read the local folder or zip. Without it, download the release from GroupLens
    into `cache_dir` (resuming a partial download) and check the zip against its published md5.
    """
    dataset_name(dataset)  # it names a cache folder: never '..' or a path
    cache = Path(cache_dir)
    release = CATALOGUE.get(dataset)
    if source is not None:
        src = Path(source)
        if not src.exists():
            raise DatasetError(f"--source {src}: no such file or folder")
        if src.is_file():
            folder = extract_zip(src, cache / "extracted" / dataset)
        else:
            folder = src
        folder = _find_csv_folder(folder)
        origin = str(src)
    else:
        if release is None:
            raise DatasetError(unknown_release(dataset))
        release = dataclasses.replace(release, url=release_url(dataset))
        zip_path = download_release(release, cache, opener=opener)
        folder = _find_csv_folder(extract_zip(zip_path, cache / "extracted" / release.name))
        origin = release.url

    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise DatasetError(f"{folder}: missing required file(s) {', '.join(missing)}")
    files = {f: sha256_file(folder / f) for f in ALL_FILES if (folder / f).is_file()}
    verified, how = verify_files(dataset, folder, files)
    return DatasetManifest(
        dataset=dataset,
        directory=str(folder.resolve()),
        files=files,
        checksum=combined_checksum(files),
        verified=verified,
        verification=how,
        source=origin,
    )


def verify_files(dataset: str, folder: Path, sha256s: dict[str, str]) -> tuple[bool, str]:
    """Check files against the release's published hashes. A mismatch is an error, not a warning."""
    release = CATALOGUE.get(dataset)
    if release is None:
        return False, "custom dataset: no published hashes, loaded unverified"
    if not release.file_hashes:
        return (
            False,
            f"{dataset}: no per-file hashes are pinned for this release; loaded unverified",
        )
    checked = []
    for name, expected in release.file_hashes.items():
        if name not in sha256s:
            continue  # optional files may be absent; the ingest records that
        algo, want = expected.split(":", 1)
        got = sha256s[name] if algo == "sha256" else _hash_file(folder / name, algo)
        if got != want:
            raise DatasetError(
                f"{folder / name}: {algo} {got} does not match the published {want} for {dataset}; "
                f"the file is corrupt or from another release (delete it and download again)"
            )
        checked.append(name)
    return True, f"{', '.join(sorted(checked))} match the published hashes"


def combined_checksum(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}:{files[name]}\n".encode())
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    return _hash_file(path, "sha256")


def _hash_file(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------- download


def download_release(
    release: Release,
    cache: Path,
    retries: int = 4,
    backoff_s: float = 2.0,
    opener: Callable[..., object] | None = None,
) -> Path:
    """Download release.url into cache (resuming a .part file) and verify it against its .md5."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{release.name}.zip"
    open_url = opener or urllib.request.urlopen
    try:
        md5_text = _fetch_text(release.md5_url, open_url, retries, backoff_s)
    except DatasetError as exc:
        if target.is_file():
            raise DatasetError(
                f"{exc}; a cached {target} exists but cannot be verified without its .md5. "
                f"Pass --source {target} to use it anyway"
            ) from exc
        raise
    want = parse_md5(md5_text, release.md5_url)
    if target.is_file() and _hash_file(target, "md5") == want:
        log.info("using cached %s (md5 ok)", target)
        return target
    part = target.with_suffix(".zip.part")
    _download_with_resume(release.url, part, open_url, retries, backoff_s)
    got = _hash_file(part, "md5")
    if got != want:
        part.unlink(missing_ok=True)  # a resumed tail on a wrong head would never heal
        raise DatasetError(
            f"{release.url}: md5 {got} does not match the published {want}; the partial file was removed, run again"
        )
    part.replace(target)
    return target


def parse_md5(text: str, where: str) -> str:
    m = re.search(r"\b([0-9a-fA-F]{32})\b", text)
    if not m:
        raise DatasetError(f"{where}: no md5 found in {text[:80]!r}")
    return m.group(1).lower()


def _offline_hint(url: str, reason: object) -> str:
    return (
        f"could not download {url} ({reason}). If this machine is offline, point at a local "
        f"copy: make run SOURCE=DIR_OR_ZIP (or reelgraph run|ingest --source DIR_OR_ZIP, or "
        f"${SOURCE_ENV}), or try synthetic data: reelgraph generate --preset small --out "
        f"data/synthetic, then make run DATASET=synthetic SOURCE=data/synthetic"
    )


def _raise_if_offline(url: str, exc: BaseException, why: object = None) -> None:
    """No DNS answer, connection refused, no route: said at once (retrying will not help)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror | ConnectionRefusedError) or getattr(
        reason, "errno", None
    ) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        raise OfflineError(_offline_hint(url, why or reason)) from exc


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Fail at once, before any work, when the download host cannot be reached."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except TimeoutError as exc:
        raise OfflineError(_offline_hint(url, f"{parts.hostname}: no answer")) from exc
    except OSError as exc:
        _raise_if_offline(url, exc, f"{parts.hostname}: {exc.strerror or exc}")


def unknown_release(dataset: str) -> str:
    return (
        f"unknown dataset {dataset!r}: known releases are {', '.join(CATALOGUE)}; "
        f"for your own export in the MovieLens layout pass --source DIR_OR_ZIP"
    )


def release_url(dataset: str) -> str | None:
    """Where the dataset downloads from (its GroupLens URL, or the mirror's); None: not a
    known release."""
    release = CATALOGUE.get(dataset)
    if release is None:
        return None
    mirror = os.environ.get(MIRROR_ENV, "").rstrip("/")
    return release.url.replace(GROUPLENS, mirror) if mirror else release.url


def _fetch_text(url: str, open_url: Callable[..., object], retries: int, backoff_s: float) -> str:
    last: object = None
    for attempt in range(retries):
        try:
            with open_url(urllib.request.Request(url), timeout=30) as resp:  # type: ignore[attr-defined]
                return resp.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            _raise_if_offline(url, exc)
            last = exc
            time.sleep(backoff_s * 2**attempt if attempt + 1 < retries else 0)
    raise DownloadError(_offline_hint(url, last))


def _download_with_resume(
    url: str, part: Path, open_url: Callable[..., object], retries: int, backoff_s: float
) -> None:
    last: object = None
    for attempt in range(retries):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with open_url(req, timeout=60) as resp:  # type: ignore[attr-defined]
                status = getattr(resp, "status", 200)
                if have and status != 206:
                    have = 0  # server ignored the range: start over
                expected = resp.headers.get("Content-Length")  # type: ignore[attr-defined]
                with open(part, "ab" if have else "wb") as out:
                    got = _copy(resp, out)
            # A dropped connection ends the body early without an exception: check the length.
            if expected is None or got >= int(expected):
                return
            last = f"connection closed after {got} of {expected} bytes"
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # range past the end: the file is already complete
                return
            last = exc
        except (urllib.error.URLError, OSError) as exc:
            _raise_if_offline(url, exc)
            last = exc
        log.warning("download of %s failed (%s); retry %d/%d", url, last, attempt + 1, retries)
        time.sleep(backoff_s * 2**attempt if attempt + 1 < retries else 0)
    raise DownloadError(_offline_hint(url, last))


def _copy(src: object, dst: object) -> int:
    n = 0
    while chunk := src.read(1 << 20):  # type: ignore[attr-defined]
        dst.write(chunk)  # type: ignore[attr-defined]
        n += len(chunk)
    return n


# ---------------------------------------------------------------------------------- extract


def clean_extracted(cache: str | Path, dataset: str) -> None:
    """Remove the dataset's extracted CSVs (and any half-extracted copy) from the cache: the
    ingest has them in the warehouse, and the zip stays for the next run to verify."""
    folder = Path(cache) / "extracted"
    for path in (folder / dataset, folder / f"{dataset}.tmp"):
        shutil.rmtree(path, ignore_errors=True)


def _find_csv_folder(folder: Path) -> Path:
    """MovieLens zips hold one top folder (ml-25m/...); accept either layout."""
    if (folder / "ratings.csv").is_file():
        return folder
    subs = (
        [p for p in folder.iterdir() if p.is_dir() and (p / "ratings.csv").is_file()]
        if folder.is_dir()
        else []
    )
    if len(subs) == 1:
        return subs[0]
    raise DatasetError(
        f"{folder}: no ratings.csv here or in a single subfolder; expected the MovieLens CSV layout"
    )
