from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelgraph.ingest import datasets
from reelgraph.ingest.archives import extract_zip
from reelgraph.ingest.datasets import DatasetError, Release, acquire, download_release


def _zip_folder(folder: Path, zip_path: Path, prefix: str = "ml-test/") -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.glob("*.csv")):
            zf.write(f, prefix + f.name)
    return zip_path


def test_local_folder_of_custom_dataset_loads_unverified(tiny_dir: Path, tmp_path: Path) -> None:
    m = acquire("my-export", source=tiny_dir, cache_dir=tmp_path)
    assert not m.verified and "custom" in m.verification
    assert set(m.files) >= {"ratings.csv", "movies.csv", "genome-scores.csv"}
    assert (
        m.files["ratings.csv"]
        == hashlib.sha256((tiny_dir / "ratings.csv").read_bytes()).hexdigest()
    )
    assert acquire("my-export", source=tiny_dir, cache_dir=tmp_path).checksum == m.checksum


def test_known_release_from_source_is_checked_and_a_mismatch_refused(
    tiny_dir: Path, tmp_path: Path
) -> None:
    # Synthetic files named as ml-latest-small cannot match the published md5s.
    with pytest.raises(DatasetError, match=r"ratings.csv: md5 .* does not match the published"):
        acquire("ml-latest-small", source=tiny_dir, cache_dir=tmp_path)


def test_zip_source_is_extracted_from_its_top_folder(tiny_dir: Path, tmp_path: Path) -> None:
    z = _zip_folder(tiny_dir, tmp_path / "export.zip")
    m = acquire("my-export", source=z, cache_dir=tmp_path / "cache")
    assert Path(m.directory).name == "ml-test"
    assert (
        m.files["movies.csv"] == hashlib.sha256((tiny_dir / "movies.csv").read_bytes()).hexdigest()
    )


def test_zip_slip_entry_is_refused(tmp_path: Path) -> None:
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ml/ratings.csv", "userId,movieId,rating,timestamp\n")
        zf.writestr("../../escaped.txt", "gotcha")
    with pytest.raises(DatasetError, match="outside"):
        extract_zip(z, tmp_path / "out")
    assert (
        not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_truncated_or_corrupt_zip_is_refused(tiny_dir: Path, tmp_path: Path, damage: str) -> None:
    z = _zip_folder(tiny_dir, tmp_path / "d.zip")
    data = bytearray(z.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[200] ^= 0xFF  # inside the first member's compressed bytes: CRC no longer matches
    z.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="truncated|corrupt|not a readable zip"):
        acquire("my-export", source=z, cache_dir=tmp_path / "cache")


def test_missing_source_and_unknown_dataset_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        acquire("ml-latest-small", source=tmp_path / "nope", cache_dir=tmp_path)
    with pytest.raises(DatasetError, match="--source"):
        acquire("my-export", cache_dir=tmp_path)


# ---------------------------------------------------------------- download over loopback HTTP


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from `directory`, honouring `Range: bytes=N-`; can drop the first transfer."""

    drop_first_after: int | None = None
    requests: list[str] = []

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = Path(self.directory) / self.path.lstrip("/")
        type(self).requests.append(f"{self.path} {self.headers.get('Range')}")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        cut = type(self).drop_first_after
        if cut is not None and path.suffix == ".zip":
            type(self).drop_first_after = None
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:cut])  # then hang up mid-transfer
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **kw: _RangeHandler(*a, directory=str(root), **kw)  # noqa: E731
    _RangeHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def _publish(tiny_dir: Path, root: Path, md5: str | None = None) -> None:
    z = _zip_folder(tiny_dir, root / "ml-test.zip")
    digest = md5 or hashlib.md5(z.read_bytes()).hexdigest()
    (root / "ml-test.zip.md5").write_text(f"{digest}  ml-test.zip\n")


def test_download_resumes_after_a_dropped_connection(
    server, tiny_dir: Path, tmp_path: Path
) -> None:
    url, root = server
    _publish(tiny_dir, root)
    _RangeHandler.drop_first_after = 1000
    z = download_release(Release("ml-test", f"{url}/ml-test.zip"), tmp_path / "cache", backoff_s=0)
    assert z.read_bytes() == (root / "ml-test.zip").read_bytes()
    assert any("bytes=1000-" in r for r in _RangeHandler.requests), _RangeHandler.requests


def test_download_with_wrong_md5_is_refused_and_not_kept(
    server, tiny_dir: Path, tmp_path: Path
) -> None:
    url, root = server
    _publish(tiny_dir, root, md5="0" * 32)
    with pytest.raises(DatasetError, match="does not match the published"):
        download_release(Release("ml-test", f"{url}/ml-test.zip"), tmp_path / "cache", backoff_s=0)
    assert not list((tmp_path / "cache").glob("ml-test.zip*"))


def test_catalogue_download_path_end_to_end(
    server, tiny_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    url, root = server
    _publish(tiny_dir, root)
    monkeypatch.setitem(datasets.CATALOGUE, "ml-test", Release("ml-test", f"{url}/ml-test.zip"))
    m = acquire("ml-test", cache_dir=tmp_path / "cache")
    assert m.source.endswith("ml-test.zip") and "ratings.csv" in m.files
    # The second call finds the verified zip in the cache and downloads nothing new.
    _RangeHandler.requests = []
    acquire("ml-test", cache_dir=tmp_path / "cache")
    assert all(".md5" in r for r in _RangeHandler.requests)


def test_offline_error_points_at_a_local_copy(tmp_path: Path) -> None:
    release = Release("ml-test", "http://127.0.0.1:9/ml-test.zip")  # port 9: nothing listens
    with pytest.raises(DatasetError, match="--source"):
        download_release(release, tmp_path, retries=1, backoff_s=0)


def test_shared_copy_of_ml_latest_small_verifies_when_present(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"
    if not shared.is_dir():
        pytest.skip("no shared copy of ml-latest-small beside the project")
    m = acquire("ml-latest-small", source=shared, cache_dir=tmp_path)
    assert m.verified
    shutil.rmtree(tmp_path, ignore_errors=True)
