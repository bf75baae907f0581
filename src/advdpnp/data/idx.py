"""IDX (MNIST format) reader plus the small file helpers the dataset readers share.

IDX layout: two zero bytes, a type code, the number of dimensions, then one big-endian int32 per
dimension, then the data in big-endian C order. Files may be plain or gzip-compressed.
Every problem with a file raises `DataError` with one line that names the file and says how to fix it.
"""

from __future__ import annotations

import gzip
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

#: IDX type code -> numpy dtype (big-endian where it matters)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"


def one_line(exc: BaseException) -> str:
    """An exception as `Type: message` on a single line (for embedding in a DataError)."""
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def read_maybe_gzip(path: str | os.PathLike, hint: str = "") -> bytes:
    """The bytes of `path`, gunzipped when the file is gzip data (by content, not by name)."""
    path = Path(path)
    fix = f"; {hint}" if hint else ""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({one_line(exc)}){fix}") from None
    if raw[:2] != GZIP_MAGIC:
        if path.suffix == ".gz":
            raise DataError(f"{path} is not gzip data although its name ends in .gz (corrupt or wrong "
                            f"file){fix}")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is a corrupt or truncated gzip file ({one_line(exc)}){fix}") from None


def parse_idx(data: bytes, name: str = "<idx>", hint: str = "") -> np.ndarray:
    """Parse IDX bytes into a native-endian numpy array (a writable copy), checking header and size."""
    fix = f"; {hint}" if hint else ""
    if len(data) < 4:
        raise DataError(f"{name} is too short to be an IDX file ({len(data)} bytes){fix}")
    zero, code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
        raise DataError(f"{name} is not an IDX (MNIST format) file: bad magic number "
                        f"0x{data[:4].hex()}{fix}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name} is truncated: its {ndim}-dimension IDX header needs {header} bytes, "
                        f"the file has {len(data)}{fix}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        shape = " x ".join(map(str, dims))
        what = "truncated" if got < expected else "has trailing bytes"
        raise DataError(f"{name} {what}: its header declares {shape} {dtype.name} values "
                        f"({expected} bytes) but it holds {got} data bytes{fix}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike, hint: str = "", ndim: int | None = None,
             dtype: np.dtype | type | None = None) -> np.ndarray:
    """Read an IDX file (plain or .gz); optionally insist on a number of dimensions and a dtype."""
    path = Path(path)
    arr = parse_idx(read_maybe_gzip(path, hint), name=str(path), hint=hint)
    fix = f"; {hint}" if hint else ""
    if ndim is not None and arr.ndim != ndim:
        raise DataError(f"{path} holds a {arr.ndim}-dimensional array {arr.shape}, expected {ndim} "
                        f"dimensions (wrong file?){fix}")
    if dtype is not None and arr.dtype != np.dtype(dtype):
        raise DataError(f"{path} holds {arr.dtype.name} values, expected {np.dtype(dtype).name} "
                        f"(wrong file?){fix}")
    return arr


def download(url: str, dest: str | os.PathLike, hint: str = "", timeout: float = 60.0) -> Path:
    """Fetch `url` into `dest` atomically (a partial download never stays behind).

    Raises a one-line DataError when offline or when the server fails; `hint` says what to do instead.
    """
    dest = Path(dest)
    fix = f"; {hint}" if hint else ""
    tmp = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        reason = getattr(exc, "reason", None)
        why = " ".join(str(reason).split()) if reason is not None else one_line(exc)
        raise DataError(f"could not download {url} to {dest} ({why}); this machine may be offline{fix}") from None
    return dest


def cache_dir() -> Path:
    """Where downloads go when the user gave no data root: ~/.cache/advdpnp."""
    return Path(os.path.expanduser("~")) / ".cache" / "advdpnp"


def search_bases() -> list[Path]:
    """Folders searched (in order) when no data root is given: $ADVDPNP_DATA, then ~/.cache/advdpnp."""
    bases = []
    env = os.environ.get("ADVDPNP_DATA")
    if env:
        bases.append(Path(env).expanduser())
    bases.append(cache_dir())
    return bases
