"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from the official "python version" pickles.

Accepted locations for ROOT (data.root) or, when unset, for $ADVDPNP_DATA and ~/.cache/advdpnp:
the extracted folder itself (ROOT/data_batch_1 ...), its parent (ROOT/cifar-10-batches-py/...),
or the official archive (ROOT/cifar-10-python.tar.gz, or ROOT naming the archive), which is read
in memory without extracting anything to disk.

SECURITY: the files are pickles. They are loaded with `SafeUnpickler`, which resolves only the few
numpy globals a plain array needs, so a crafted file cannot run code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import DataError
from .base import DATASETS, RawDataset
from .idx import cache_dir, download as fetch, one_line, search_bases

PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


# ----------------------------------------------------------------------------------------------
# restricted unpickling
# ----------------------------------------------------------------------------------------------

def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Stand-in for `_codecs.encode` (how Python 3 pickles bytes at protocol 2), latin-1 only."""
    if not isinstance(obj, str) or str(encoding).lower().replace("-", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return obj.encode("latin-1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.ndarray((0,)).__reduce__()[0]       # numpy(._)core.multiarray._reconstruct
    scalar = np.float64(0).__reduce__()[0]               # numpy(._)core.multiarray.scalar
    frombuffer = np.ones(1).__reduce_ex__(5)[0]          # numpy(._)core.numeric._frombuffer
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                           ("_codecs", "encode"): _latin1_encode}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle references a global that plain numpy data never needs."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy array/dtype/scalar constructors; everything else is refused."""

    ALLOWED = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise ForbiddenGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_unpickle(data: bytes, name: str, hint: str = "") -> Any:
    """Unpickle bytes of an official CIFAR file (encoding='bytes' like the official loader)."""
    fix = f"; {hint}" if hint else ""
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except ForbiddenGlobal as exc:
        raise DataError(f"refusing to load {name}: the pickle references {exc}, which plain CIFAR data never "
                        f"does (a tampered or foreign file, not loaded for safety){fix}") from None
    except Exception as exc:  # corrupt pickles raise anything from EOFError to TypeError
        raise DataError(f"{name} is not a readable CIFAR pickle ({one_line(exc)}){fix}") from None


# ----------------------------------------------------------------------------------------------
# layouts
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    folder: str
    archive: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    label_key: str
    names_key: str
    num_classes: int
    default_names: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"https://www.cs.toronto.edu/~kriz/{self.archive}"

    @property
    def required(self) -> tuple[str, ...]:
        return self.train + self.test

    def fix(self) -> str:
        return (f"download {self.archive} from {PAGE} and pass data.root=DIR (the folder holding the archive "
                f"or its extracted {self.folder}/), or pass data.download=true")


CIFAR10 = Spec(
    name="cifar10", title="CIFAR-10", folder="cifar-10-batches-py", archive="cifar-10-python.tar.gz",
    train=tuple(f"data_batch_{i}" for i in range(1, 6)), test=("test_batch",), meta="batches.meta",
    label_key="labels", names_key="label_names", num_classes=10,
    default_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
)

CIFAR100 = Spec(
    name="cifar100", title="CIFAR-100", folder="cifar-100-python", archive="cifar-100-python.tar.gz",
    train=("train",), test=("test",), meta="meta", label_key="fine_labels", names_key="fine_label_names",
    num_classes=100,
    default_names=tuple("""
        apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel
        can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur
        dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion
        lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree
        pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea
        seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table
        tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman
        worm""".split()),
)


# A source yields the bytes of one member ("data_batch_1") or None when absent.
Source = tuple[str, Callable[[str], "bytes | None"]]


def _dir_source(folder: Path) -> Source:
    def read(member: str) -> bytes | None:
        path = folder / member
        if not path.is_file():
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {path} ({one_line(exc)})") from None
    return str(folder), read


def _tar_source(archive: Path, spec: Spec) -> Source:
    """Read the needed members of the archive in one sequential pass, in memory."""
    wanted = set(spec.required) | {spec.meta}
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tf:
            for info in tf:
                parts = info.name.replace("\\", "/").strip("/").split("/")
                if info.isfile() and parts[-1] in wanted and parts[-1] not in members:
                    f = tf.extractfile(info)
                    if f is not None:
                        members[parts[-1]] = f.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{archive} is not a readable .tar.gz archive ({one_line(exc)}); delete it and "
                        f"{spec.fix()}") from None
    return str(archive), members.get


def _complete(folder: Path, spec: Spec) -> bool:
    return folder.is_dir() and all((folder / f).is_file() for f in spec.required)


def _missing(folder: Path, spec: Spec) -> list[str]:
    return [f for f in spec.required if not (folder / f).is_file()]


def locate(root: str | None, spec: Spec) -> Source:
    """Find the extracted folder or the archive; one-line DataError saying what to put where otherwise."""
    if root is not None:
        r = Path(root).expanduser()
        if r.is_file():
            return _tar_source(r, spec)
        if not r.is_dir():
            raise DataError(f"{spec.name}: data.root={root} does not exist; {spec.fix()}")
        bases = [r]
    else:
        bases = [b for b in search_bases() if b.is_dir()]
    partial: Path | None = None
    for base in bases:
        for folder in ([base, base / spec.folder] if root is not None else [base / spec.folder]):
            if _complete(folder, spec):
                return _dir_source(folder)
            if partial is None and folder.is_dir() and len(_missing(folder, spec)) < len(spec.required):
                partial = folder
        if (base / spec.archive).is_file():
            return _tar_source(base / spec.archive, spec)
    if partial is not None:
        raise DataError(f"{spec.name}: {partial} lacks {', '.join(_missing(partial, spec))} (incomplete "
                        f"extraction?); re-extract {spec.archive} there, or {spec.fix()}")
    looked = ", ".join(str(b) for b in ([Path(root).expanduser()] if root is not None else search_bases()))
    raise DataError(f"{spec.name} not found in {looked}: expected {spec.folder}/ ({', '.join(spec.required)}, "
                    f"{spec.meta}) or {spec.archive}; {spec.fix()}")


# ----------------------------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------------------------

def _get(d: dict, key: str) -> Any:
    """dict lookup accepting both bytes keys (encoding='bytes', the official files) and str keys."""
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def _batch(where: str, member: str, data: bytes, spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    name = f"{where}/{member}" if not where.endswith(member) else where
    fix = f"replace it: {spec.fix()}"
    d = safe_unpickle(data, name, fix)
    if not isinstance(d, dict):
        raise DataError(f"{name} does not hold a dict but {type(d).__name__} (not a {spec.title} batch); {fix}")
    x, y = _get(d, "data"), _get(d, spec.label_key)
    if not isinstance(x, np.ndarray) or y is None:
        raise DataError(f"{name} lacks the 'data' array or '{spec.label_key}' (not a {spec.title} batch); {fix}")
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DataError(f"{name}: 'data' is {x.dtype} {x.shape}, expected uint8 (N, 3072); {fix}")
    try:
        y = np.asarray(y)
        ok = y.ndim == 1 and (len(y) == 0 or np.issubdtype(y.dtype, np.integer))
    except Exception:  # ragged or odd label containers
        ok = False
    if not ok:
        raise DataError(f"{name}: '{spec.label_key}' is not a flat list of integers; {fix}")
    if len(y) != len(x):
        raise DataError(f"{name} holds {len(x)} images but {len(y)} labels (truncated or mixed file); {fix}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= spec.num_classes):
        raise DataError(f"{name}: labels span [{int(y.min())}, {int(y.max())}], expected 0..{spec.num_classes - 1} "
                        f"(is this {spec.title}?); {fix}")
    return x, y.astype(np.int64)


def _class_names(where: str, read: Callable[[str], "bytes | None"], spec: Spec) -> list[str]:
    data = read(spec.meta)
    if data is None:
        return list(spec.default_names)
    meta = safe_unpickle(data, f"{where}/{spec.meta}", f"replace it: {spec.fix()}")
    names = _get(meta, spec.names_key) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != spec.num_classes:
        return list(spec.default_names)
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


def load(root: str | None, download: bool, spec: Spec) -> RawDataset:
    try:
        where, read = locate(root, spec)
    except DataError:
        if not download:
            raise
        dest = Path(root).expanduser() if root is not None else cache_dir()
        archive = fetch(spec.url, dest / spec.archive, hint=f"download {spec.archive} from {PAGE} yourself "
                                                             f"and pass data.root=DIR")
        where, read = _tar_source(archive, spec)

    splits = {}
    for split, members in (("train", spec.train), ("test", spec.test)):
        xs, ys = [], []
        for member in members:
            data = read(member)
            if data is None:
                raise DataError(f"{spec.name}: {where} lacks {member}; {spec.fix()}")
            x, y = _batch(where, member, data, spec)
            xs.append(x)
            ys.append(y)
        x, y = np.concatenate(xs), np.concatenate(ys)  # fresh writable copies
        # each row: 1024 red, 1024 green, 1024 blue values, each plane row-major 32x32
        splits[split] = (torch.from_numpy(x.reshape(-1, 3, 32, 32)), torch.from_numpy(y))

    return RawDataset(
        name=spec.name,
        train_x=splits["train"][0], train_y=splits["train"][1],
        test_x=splits["test"][0], test_y=splits["test"][1],
        num_classes=spec.num_classes, class_names=_class_names(where, read, spec),
    ).validate()


@DATASETS.register("cifar10", help="CIFAR-10 32x32 colour, 10 classes, 50k/10k official split")
def cifar10(root: str | None = None, download: bool = False) -> RawDataset:
    """CIFAR-10: 50000 train / 10000 test 32x32 RGB images of 10 classes."""
    return load(root, download, CIFAR10)


@DATASETS.register("cifar100", help="CIFAR-100 32x32 colour, 100 fine classes, 50k/10k official split")
def cifar100(root: str | None = None, download: bool = False) -> RawDataset:
    """CIFAR-100: 50000 train / 10000 test 32x32 RGB images of 100 fine classes."""
    return load(root, download, CIFAR100)
