"""Atomic file writes and safe checkpoint reads: a crash, a Ctrl-C or a Colab disconnect
never leaves a half-written file in place of a good one.

Everything is written to a temporary file in the destination folder, flushed and
fsynced, then moved into place with :func:`os.replace` (atomic on POSIX and Windows),
and the folder is fsynced so that the rename itself survives a power cut. Files get the
usual mode (``0o666`` less the umask), not the temporary file's ``0o600``. Temporary
files that a kill left behind are removed by the next write of the same file.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable, IO

import torch

from ._checks import check_device

_UMASK_LOCK = threading.Lock()


class CheckpointError(ValueError):
    """A checkpoint (or another ``torch.save`` file) that cannot be read: truncated,
    empty, garbled or not written by kdehist. The message names the file and what to do.
    """


def _file_mode() -> int:
    """``0o666`` less the process umask (read without changing it for other threads)."""
    with _UMASK_LOCK:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a no-op where folders
    cannot be opened (Windows).
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        # some file systems (e.g. network mounts) refuse it; the data itself was fsynced
        pass
    finally:
        os.close(fd)


def _remove_leftovers(path: Path) -> None:
    """Temporary files of ``path`` left by a killed writer (``.NAME.XXXX.tmp``)."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            leftover.unlink()
        except OSError:
            pass


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[IO[bytes]], None],
    previous: Path | None = None,
) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            error.errno,
            f"{path.parent}: cannot create the folder for {path.name} "
            f"({error.strerror})",
        ) from error
    if path.is_dir():
        raise IsADirectoryError(f"{path}: expected a file path to write, got a folder")
    _remove_leftovers(path)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise OSError(
            error.errno,
            f"{path.parent}: cannot write {path.name} there ({error.strerror})",
        ) from error
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode())
        if previous is not None and path.is_file():
            # A kill between these two renames leaves only
            # `previous`: readers fall back to it.
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def png_bytes(image, *, compress_level: int | None = None) -> bytes:
    """Encode a PIL image, or a uint8 array ``(H, W)`` or ``(H, W, 3)``, as PNG bytes.

    ``compress_level`` is zlib's, 0 to 9: ``None`` (PIL's default, 6) for files that are
    kept, 1 where encoding time counts (caches, the explorer's redraws).

    >>> import numpy as np
    >>> png_bytes(np.zeros((2, 2, 3), dtype=np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    from io import BytesIO

    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    buffer = BytesIO()
    options = {} if compress_level is None else {"compress_level": compress_level}
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def atomic_torch_save(
    path: str | os.PathLike, obj: Any, previous: str | os.PathLike | None = None
) -> Path:
    """``torch.save`` to ``path`` atomically.

    With ``previous``, the file that ``path`` held is kept there (renamed, not copied),
    so that a damaged ``path`` can fall back to the one before it.
    """
    return atomic_write(
        path,
        lambda handle: torch.save(obj, handle),
        None if previous is None else Path(previous),
    )


def load_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    *,
    advice: str = "delete it to recompute it",
) -> Any:
    """Load a checkpoint with ``weights_only=True``: tensors and plain containers only.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: ``map_location`` (or, without one, the device a tensor was saved
            on) is a CUDA device that this machine lacks; the message says so and
            suggests ``map_location="cpu"``. Not a :class:`CheckpointError`: the file
            is fine.
        CheckpointError: (a ``ValueError``) the file is empty, truncated, garbled or
            holds something other than tensors and plain containers; the message names
            the file and ends with ``advice``.
    """
    if isinstance(map_location, (str, torch.device)):
        # torch's own error would be reported below as a damaged file
        check_device("map_location", map_location, advice=_CPU_ADVICE)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path: expected an existing checkpoint file, got {str(path)!r}"
        )
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(
            f"{path}: the checkpoint is empty (0 bytes; a write was cut short); "
            f"{advice}"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except RuntimeError as error:
        if _missing_cuda(error):
            # saved on a GPU, loaded without a map_location that this machine has
            raise ValueError(
                f"map_location: expected a device that this machine has for {path}, "
                f"got {map_location!r} but the file holds CUDA tensors and "
                f"{_cuda_state()}{_CPU_ADVICE}"
            ) from None
        raise _damaged(path, size, error, advice) from None
    except (
        EOFError,
        OSError,
        ValueError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        TypeError,
        UnicodeDecodeError,
    ) as error:
        raise _damaged(path, size, error, advice) from None


_CPU_ADVICE = '; pass map_location="cpu" to load it on the CPU'


def _missing_cuda(error: RuntimeError) -> bool:
    """Whether ``torch.load`` failed because the file's CUDA device is absent here."""
    text = str(error)
    return "torch.cuda.is_available() is False" in text or (
        "CUDA device" in text and "torch.cuda.device_count()" in text
    )


def _cuda_state() -> str:
    if not torch.cuda.is_available():
        return "CUDA is not available here (torch.cuda.is_available() is False)"
    return f"this machine has {torch.cuda.device_count()} CUDA device(s)"


def _damaged(path: Path, size: int, error: BaseException, advice: str):
    # Never suggest weights_only=False (torch's hint): it would run code from the file.
    detail = (
        str(error).strip().splitlines()[0]
        if str(error).strip()
        else type(error).__name__
    )
    if len(detail) > 160:
        detail = detail[:157] + "..."
    return CheckpointError(
        f"{path}: not a readable checkpoint ({size} bytes; truncated, damaged "
        f"or not written by kdehist: {type(error).__name__}: {detail}); {advice}"
    )
