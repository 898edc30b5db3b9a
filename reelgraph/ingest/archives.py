"""Extracting a release's zip safely: only the CSVs we read, inside the target folder, within limits
on the total size and each entry's expansion ratio (a small hostile zip cannot fill the disk)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from reelgraph.core.conventions import ALL_FILES
from reelgraph.core.errors import DatasetError

# Limits on what an archive may expand to, so a small hostile zip cannot fill the disk: the
# total of the entries we extract, and each entry's expansion ratio (MovieLens CSVs compress
# about 3-10x; a zip bomb, thousands of times).
MAX_UNZIPPED_MB_ENV = "REELGRAPH_MAX_UNZIPPED_MB"


MAX_ZIP_RATIO_ENV = "REELGRAPH_MAX_ZIP_RATIO"


DEFAULT_MAX_UNZIPPED_MB = 8192


DEFAULT_MAX_ZIP_RATIO = 100.0


@dataclasses.dataclass(frozen=True)
class ZipLimits:
    max_bytes: int = DEFAULT_MAX_UNZIPPED_MB << 20
    max_ratio: float = DEFAULT_MAX_ZIP_RATIO

    @staticmethod
    def from_env() -> ZipLimits:
        def number(env: str, default: float) -> float:
            text = os.environ.get(env)
            try:
                value = float(text) if text else default
            except ValueError:
                value = -1.0
            if not value > 0:
                raise DatasetError(f"${env} must be a positive number, got {text!r}")
            return value

        mb = number(MAX_UNZIPPED_MB_ENV, DEFAULT_MAX_UNZIPPED_MB)
        return ZipLimits(int(mb * (1 << 20)), number(MAX_ZIP_RATIO_ENV, DEFAULT_MAX_ZIP_RATIO))


def extract_zip(zip_path: Path, target: Path, limits: ZipLimits | None = None) -> Path:
    """Extract the MovieLens CSVs of the zip (at its root or in one top folder; nothing else)
    into target. Refused before anything is written: an entry that would land outside target
    (zip-slip), more than `limits.max_bytes` in all, an entry expanding more than
    `limits.max_ratio` times. zipfile never writes more than an entry's declared size and
    checks its CRC, so a header that lies fails as corrupt."""
    limits = limits or ZipLimits.from_env()
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(
            f"{zip_path}: not a readable zip ({exc}); it may be truncated, download it again"
        ) from exc
    tmp = target.with_name(target.name + ".tmp")
    with zf:
        wanted = _wanted_entries(zip_path, zf, target)
        total = sum(i.file_size for i in wanted)
        if total > limits.max_bytes:
            raise DatasetError(
                f"{zip_path}: its CSVs expand to {total >> 20} MB, over the {limits.max_bytes >> 20} MB "
                f"limit (${MAX_UNZIPPED_MB_ENV} raises it)"
            )
        for info in wanted:
            if info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise DatasetError(
                    f"{zip_path}: entry {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f}x "
                    f"(limit {limits.max_ratio:g}x, ${MAX_ZIP_RATIO_ENV} raises it); refusing a likely zip bomb"
                )
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            for info in wanted:
                zf.extract(info, tmp)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DatasetError(
                f"{zip_path}: an entry is corrupt ({exc}); download it again"
            ) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # a full disk or a signal: leave no half copy
            raise
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target


def _wanted_entries(zip_path: Path, zf: zipfile.ZipFile, target: Path) -> list[zipfile.ZipInfo]:
    root = target.resolve()
    wanted = []
    for info in zf.infolist():
        name = PurePosixPath(info.filename)
        dest = (root / info.filename).resolve()
        if name.is_absolute() or ".." in name.parts or not dest.is_relative_to(root):
            raise DatasetError(
                f"{zip_path}: entry {info.filename!r} would extract outside {target}; refusing this zip"
            )
        if not info.is_dir() and name.name in ALL_FILES and len(name.parts) <= 2:
            wanted.append(info)
    return wanted
