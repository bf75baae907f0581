"""Dataset readers on small fake files written in the official formats (no downloads, no torchvision)."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from advdpnp.data import DATASETS
from advdpnp.data import cifar, fashion_mnist, idx, svhn
from advdpnp.errors import DataError

RNG = np.random.default_rng(0)


def one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


@pytest.fixture
def no_default_places(tmp_path, monkeypatch):
    """Point every default search place at empty folders so the machine's real data cannot leak in."""
    monkeypatch.setenv("ADVDPNP_DATA", str(tmp_path / "env-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "usr-share-datasets" / "fashion-mnist")


@pytest.fixture
def offline(monkeypatch):
    calls = []

    def urlopen(url, *a, **k):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


def serve(monkeypatch, files: dict[str, bytes]) -> list[str]:
    """Fake urlopen answering with files[basename of url]."""
    calls = []

    def urlopen(url, *a, **k):
        calls.append(url)
        return io.BytesIO(files[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


def test_all_readers_registered():
    for name in ("digits", "fashion-mnist", "cifar10", "cifar100", "svhn"):
        assert name in DATASETS and DATASETS.help(name)


# ---------------------------------------------------------------------------------------------
# IDX / Fashion-MNIST
# ---------------------------------------------------------------------------------------------

def idx_bytes(arr: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_fmnist(folder: Path, n_train=20, n_test=10, gz=True, hw=(28, 28)) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_x": RNG.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        "train_y": (np.arange(n_train) % 10).astype(np.uint8),
        "test_x": RNG.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        "test_y": RNG.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, stem in fashion_mnist.FILES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


def check_fmnist(ds, arrays):
    assert ds.name == "fashion-mnist" and ds.num_classes == 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[1] == "Trouser" and ds.class_names[9] == "Ankle boot"
    for split in ("train", "test"):
        x, y = getattr(ds, f"{split}_x"), getattr(ds, f"{split}_y")
        assert x.dtype == torch.uint8 and y.dtype == torch.int64
        assert x.shape == (len(arrays[f"{split}_y"]), 1, 28, 28)
        assert torch.equal(x[:, 0], torch.from_numpy(arrays[f"{split}_x"]))
        assert torch.equal(y, torch.from_numpy(arrays[f"{split}_y"].astype(np.int64)))


def test_idx_parse_roundtrip_big_endian():
    a = np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 1000003
    out = idx.parse_idx(idx_bytes(a))
    assert out.dtype == np.int32 and out.dtype.isnative and np.array_equal(out, a) and out.flags.writeable
    f = np.linspace(-1, 1, 5).astype(np.float32)
    assert np.array_equal(idx.parse_idx(idx_bytes(f)), f)


def test_fashion_mnist_gz_roundtrip(tmp_path):
    arrays = write_fmnist(tmp_path / "fm")
    check_fmnist(DATASETS.get("fashion-mnist")(str(tmp_path / "fm")), arrays)


def test_fashion_mnist_plain_files_and_torchvision_layout(tmp_path):
    arrays = write_fmnist(tmp_path / "FashionMNIST" / "raw", gz=False)
    check_fmnist(fashion_mnist.fashion_mnist(str(tmp_path)), arrays)


def test_fashion_mnist_found_via_env_var(tmp_path, no_default_places):
    arrays = write_fmnist(tmp_path / "env-data" / "fashion-mnist")
    check_fmnist(fashion_mnist.fashion_mnist(None), arrays)


def test_fashion_mnist_found_in_debian_place(tmp_path, no_default_places):
    arrays = write_fmnist(fashion_mnist.DEBIAN_DIR)
    check_fmnist(fashion_mnist.fashion_mnist(None), arrays)


def test_fashion_mnist_not_found_says_how_to_get_it(tmp_path, no_default_places, offline):
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(None)
    msg = one_line_error(e)
    assert "apt-get install -y dataset-fashion-mnist" in msg and "data.root=DIR" in msg
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert not offline  # no download unless asked


def test_fashion_mnist_missing_root_folder(tmp_path):
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path / "nope"))
    msg = one_line_error(e)
    assert "nope" in msg and "apt-get install -y dataset-fashion-mnist" in msg and "data.root=DIR" in msg


def test_fashion_mnist_partial_folder_names_missing_file(tmp_path):
    write_fmnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path))
    msg = one_line_error(e)
    missing = msg.split("lacks")[1].split(";")[0]
    assert "t10k-labels-idx1-ubyte" in msg and str(tmp_path) in msg and "train-images" not in missing


def test_fashion_mnist_truncated_gzip(tmp_path):
    write_fmnist(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-200])
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path))
    msg = one_line_error(e)
    assert "train-images-idx3-ubyte.gz" in msg and "gzip" in msg and "download" in msg


def test_fashion_mnist_gz_name_but_not_gzip(tmp_path):
    write_fmnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"<html>404 not found</html>")
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path))
    assert "not gzip" in one_line_error(e)


def test_fashion_mnist_wrong_magic(tmp_path):
    write_fmnist(tmp_path, gz=False)
    p = tmp_path / "train-labels-idx1-ubyte"
    p.write_bytes(b"\x12\x34" + p.read_bytes()[2:])
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path))
    msg = one_line_error(e)
    assert "magic" in msg and "train-labels-idx1-ubyte" in msg


def test_fashion_mnist_byte_count_mismatch(tmp_path):
    write_fmnist(tmp_path, gz=False)
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path))
    msg = one_line_error(e)
    assert "truncated" in msg and "10 x 28 x 28" in msg


def test_fashion_mnist_images_in_label_slot(tmp_path):
    write_fmnist(tmp_path)
    os.replace(tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz")
    write_fmnist(tmp_path / "x")  # keep a valid images file in place
    os.replace(tmp_path / "x" / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path))
    assert "expected 1 dimensions" in one_line_error(e)


def test_fashion_mnist_label_count_mismatch(tmp_path):
    write_fmnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(19, np.uint8))))
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path))
    msg = one_line_error(e)
    assert "20 images" in msg and "19 labels" in msg


def test_fashion_mnist_download_offline(tmp_path, no_default_places, offline):
    with pytest.raises(DataError) as e:
        fashion_mnist.fashion_mnist(str(tmp_path / "dl"), download=True)
    msg = one_line_error(e)
    assert "could not download" in msg and "offline" in msg and "apt-get install" in msg
    assert offline and offline[0].startswith(fashion_mnist.URL)
    assert not list((tmp_path / "dl").glob("*.part"))


def test_fashion_mnist_download_into_cache(tmp_path, no_default_places, monkeypatch):
    src = tmp_path / "server"
    arrays = write_fmnist(src)
    calls = serve(monkeypatch, {p.name: p.read_bytes() for p in src.iterdir()})
    check_fmnist(fashion_mnist.fashion_mnist(None, download=True), arrays)
    assert len(calls) == 4
    cached = tmp_path / "home" / ".cache" / "advdpnp" / "fashion-mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(f + ".gz" for f in fashion_mnist.FILES.values())
    check_fmnist(fashion_mnist.fashion_mnist(None, download=True), arrays)  # found now: no new download
    assert len(calls) == 4


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVDPNP_DATA", str(tmp_path / "env-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ds = fashion_mnist.fashion_mnist(None)  # found in the Debian place without any configuration
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert torch.equal(torch.bincount(ds.train_y), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(ds.test_y), torch.full((10,), 1000))


# ---------------------------------------------------------------------------------------------
# CIFAR
# ---------------------------------------------------------------------------------------------

class Py2Pickler(pickle._Pickler):
    """Writes protocol-2 pickles the way Python 2's cPickle wrote the official CIFAR files (str as BINSTRING)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        if isinstance(obj, str):
            obj = obj.encode("latin-1")
        n = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def dump(obj, protocol) -> bytes:
    if protocol == "py2":
        buf = io.BytesIO()
        Py2Pickler(buf, protocol=2).dump(obj)
        return buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    return pickle.dumps(obj, protocol=protocol)


def cifar_rows(n: int) -> np.ndarray:
    """Rows whose R, G, B planes are distinguishable: R=(h+w)%256, G=100+c... plus noise in B."""
    rows = np.empty((n, 3072), np.uint8)
    hw = (np.arange(32)[:, None] * 7 + np.arange(32)[None, :]) % 251
    for i in range(n):
        rows[i, :1024] = ((hw + i) % 256).ravel()        # red plane, row-major
        rows[i, 1024:2048] = 200 - i % 50                 # green plane constant
        rows[i, 2048:] = RNG.integers(0, 256, 1024)       # blue plane random
    return rows


def write_cifar10(folder: Path, per_batch=4, n_test=6, protocol="py2", meta=True):
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for b in range(1, 6):
        x, y = cifar_rows(per_batch), [int(v) for v in RNG.integers(0, 10, per_batch)]
        (folder / f"data_batch_{b}").write_bytes(dump({b"batch_label": b"training batch %d of 5" % b, b"labels": y,
                                                       b"data": x, b"filenames": [b"f.png"] * per_batch}, protocol))
        xs.append(x)
        ys += y
    tx, ty = cifar_rows(n_test), [int(v) for v in RNG.integers(0, 10, n_test)]
    (folder / "test_batch").write_bytes(dump({b"batch_label": b"testing batch 1 of 1", b"labels": ty, b"data": tx,
                                              b"filenames": [b"t.png"] * n_test}, protocol))
    if meta:
        names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
        (folder / "batches.meta").write_bytes(dump({b"num_cases_per_batch": per_batch, b"label_names": names,
                                                    b"num_vis": 3072}, protocol))
    return np.concatenate(xs), np.array(ys), tx, np.array(ty)


def write_cifar100(folder: Path, n_train=12, n_test=5, protocol="py2"):
    folder.mkdir(parents=True, exist_ok=True)
    x, tx = cifar_rows(n_train), cifar_rows(n_test)
    y, ty = [int(v) for v in RNG.integers(0, 100, n_train)], [int(v) for v in RNG.integers(0, 100, n_test)]
    y[0], ty[0] = 99, 0
    for name, xx, yy in (("train", x, y), ("test", tx, ty)):
        (folder / name).write_bytes(dump({b"filenames": [b"a.png"] * len(yy), b"batch_label": name.encode(),
                                          b"fine_labels": yy, b"coarse_labels": [v // 5 for v in yy],
                                          b"data": xx}, protocol))
    fine = [("class%02d" % i).encode() for i in range(100)]
    (folder / "meta").write_bytes(dump({b"fine_label_names": fine, b"coarse_label_names": [b"c"] * 20}, protocol))
    return x, np.array(y), tx, np.array(ty)


def make_tar(src: Path, archive: Path, arcdir: str):
    with tarfile.open(archive, "w:gz") as tf:
        for p in sorted(src.iterdir()):
            tf.add(p, arcname=f"{arcdir}/{p.name}")


def check_cifar(ds, x, y, tx, ty, name="cifar10", k=10):
    assert ds.name == name and ds.num_classes == k
    assert ds.train_x.shape == (len(x), 3, 32, 32) and ds.test_x.shape == (len(tx), 3, 32, 32)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert torch.equal(ds.train_y, torch.from_numpy(y)) and torch.equal(ds.test_y, torch.from_numpy(ty))
    # layout: row = 1024 R, 1024 G, 1024 B, each plane row-major (h, w)
    i, h, w = 1, 5, 9
    assert ds.train_x[i, 0, h, w] == x[i, h * 32 + w] == (h * 7 + w + i) % 251 % 256
    assert ds.train_x[i, 1, h, w] == x[i, 1024 + h * 32 + w] == 200 - i
    assert ds.train_x[i, 2, h, w] == x[i, 2048 + h * 32 + w]
    assert torch.equal(ds.train_x.reshape(len(x), -1), torch.from_numpy(x))
    assert torch.equal(ds.test_x.reshape(len(tx), -1), torch.from_numpy(tx))


@pytest.mark.parametrize("protocol", ["py2", 2, 4, 5])
def test_cifar10_roundtrip_pickle_protocols(tmp_path, protocol):
    arrays = write_cifar10(tmp_path / "cifar-10-batches-py", protocol=protocol)
    ds = cifar.cifar10(str(tmp_path))  # parent of the extracted folder
    check_cifar(ds, *arrays)
    assert ds.class_names[0] == "airplane" and ds.class_names[9] == "truck"


def test_cifar10_layouts_folder_parent_archive(tmp_path):
    folder = tmp_path / "src" / "cifar-10-batches-py"
    arrays = write_cifar10(folder)
    check_cifar(cifar.cifar10(str(folder)), *arrays)  # the extracted folder itself
    (tmp_path / "a").mkdir()
    make_tar(folder, tmp_path / "a" / "cifar-10-python.tar.gz", "cifar-10-batches-py")
    check_cifar(cifar.cifar10(str(tmp_path / "a")), *arrays)  # archive in root
    check_cifar(cifar.cifar10(str(tmp_path / "a" / "cifar-10-python.tar.gz")), *arrays)  # root = archive
    assert list((tmp_path / "a").iterdir()) == [tmp_path / "a" / "cifar-10-python.tar.gz"]  # nothing extracted


def test_cifar10_found_via_env_var_and_default_names(tmp_path, no_default_places):
    arrays = write_cifar10(tmp_path / "env-data" / "cifar-10-batches-py", meta=False)
    ds = DATASETS.get("cifar10")(None)
    check_cifar(ds, *arrays)
    assert ds.class_names == list(cifar.CIFAR10.default_names)


def test_cifar100_roundtrip_fine_labels(tmp_path):
    arrays = write_cifar100(tmp_path / "cifar-100-python")
    ds = DATASETS.get("cifar100")(str(tmp_path))
    check_cifar(ds, *arrays, name="cifar100", k=100)
    assert ds.class_names[:2] == ["class00", "class01"] and len(ds.class_names) == 100
    assert int(ds.train_y[0]) == 99


def test_cifar100_archive(tmp_path):
    arrays = write_cifar100(tmp_path / "s" / "cifar-100-python", protocol=4)
    make_tar(tmp_path / "s" / "cifar-100-python", tmp_path / "cifar-100-python.tar.gz", "cifar-100-python")
    check_cifar(cifar.cifar100(str(tmp_path)), *arrays, name="cifar100", k=100)


def test_cifar100_default_names_are_the_official_100():
    names = cifar.CIFAR100.default_names
    assert len(set(names)) == 100 and list(names) == sorted(names) and "aquarium_fish" in names


class Shell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class OpenFile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_malicious_payload_is_live_with_plain_pickle(tmp_path):
    """Sanity check of the test payload: an unrestricted unpickler does create the file."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(OpenFile(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("payload", [Shell, OpenFile])
@pytest.mark.parametrize("where", ["whole", "nested"])
@pytest.mark.parametrize("archived", [False, True])
def test_cifar_malicious_pickle_refused(tmp_path, payload, where, archived):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    marker = tmp_path / "pwned"
    evil = payload(marker)
    obj = evil if where == "whole" else {b"data": np.zeros((1, 3072), np.uint8), b"labels": [evil]}
    (folder / "data_batch_2").write_bytes(pickle.dumps(obj, protocol=2))
    root = tmp_path
    if archived:
        root = tmp_path / "arch"
        root.mkdir()
        make_tar(folder, root / "cifar-10-python.tar.gz", "cifar-10-batches-py")
    with pytest.raises(DataError) as e:
        cifar.cifar10(str(root))
    msg = one_line_error(e)
    assert "refusing to load" in msg and "data_batch_2" in msg
    assert ("system" in msg) if payload is Shell else ("open" in msg)
    assert not marker.exists()


@pytest.mark.parametrize("global_name", [b"builtins\neval\n", b"subprocess\nPopen\n", b"numpy\nload\n",
                                         b"numpy.core.multiarray\n_reconstruct_evil\n"])
def test_safe_unpickler_refuses_other_globals(global_name):
    payload = b"\x80\x02c" + global_name + b"X\x01\x00\x00\x001\x85R."
    with pytest.raises(DataError) as e:
        cifar.safe_unpickle(payload, "evil")
    assert "refusing" in one_line_error(e)


def test_cifar_refuses_codecs_other_than_latin1():
    payload = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R."
    with pytest.raises(DataError):
        cifar.safe_unpickle(payload, "evil")


def test_cifar_missing_folder_says_how_to_get_it(tmp_path, no_default_places, offline):
    with pytest.raises(DataError) as e:
        cifar.cifar10(str(tmp_path / "nope"))
    msg = one_line_error(e)
    assert "nope" in msg and "cifar-10-python.tar.gz" in msg and "data.root=DIR" in msg and "data.download=true" in msg
    with pytest.raises(DataError) as e:
        cifar.cifar100(None)
    msg = one_line_error(e)
    assert "cifar-100-python.tar.gz" in msg and str(tmp_path / "env-data") in msg
    assert not offline


def test_cifar_incomplete_extraction(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError) as e:
        cifar.cifar10(str(tmp_path))
    assert "lacks data_batch_3" in one_line_error(e)


def test_cifar_truncated_pickle(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    p = folder / "test_batch"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(DataError) as e:
        cifar.cifar10(str(tmp_path))
    msg = one_line_error(e)
    assert "test_batch" in msg and "not a readable CIFAR pickle" in msg


def test_cifar_label_count_mismatch(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_4").write_bytes(pickle.dumps({b"data": cifar_rows(4), b"labels": [1, 2, 3]}))
    with pytest.raises(DataError) as e:
        cifar.cifar10(str(tmp_path))
    msg = one_line_error(e)
    assert "data_batch_4" in msg and "4 images but 3 labels" in msg


def test_cifar_wrong_row_size_and_labels(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": np.zeros((2, 784), np.uint8), b"labels": [1, 2]}))
    with pytest.raises(DataError) as e:
        cifar.cifar10(str(tmp_path))
    assert "expected uint8 (N, 3072)" in one_line_error(e)
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": cifar_rows(2), b"labels": [1, 57]}))
    with pytest.raises(DataError) as e:
        cifar.cifar10(str(tmp_path))
    assert "expected 0..9" in one_line_error(e)


def test_cifar_corrupt_archive(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(gzip.compress(b"not a tar")[:-4])
    with pytest.raises(DataError) as e:
        cifar.cifar10(str(tmp_path))
    msg = one_line_error(e)
    assert "cifar-10-python.tar.gz" in msg and "not a readable" in msg


def test_cifar_download_offline(tmp_path, no_default_places, offline):
    with pytest.raises(DataError) as e:
        cifar.cifar10(None, download=True)
    msg = one_line_error(e)
    assert "could not download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg and "offline" in msg
    assert not list((tmp_path / "home").rglob("*.part"))


def test_cifar_download_then_read_archive(tmp_path, no_default_places, monkeypatch):
    arrays = write_cifar10(tmp_path / "s" / "cifar-10-batches-py")
    make_tar(tmp_path / "s" / "cifar-10-batches-py", tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py")
    calls = serve(monkeypatch, {"cifar-10-python.tar.gz": (tmp_path / "cifar-10-python.tar.gz").read_bytes()})
    check_cifar(cifar.cifar10(None, download=True), *arrays)
    check_cifar(cifar.cifar10(None, download=True), *arrays)  # second time from the cache
    assert len(calls) == 1
    assert (tmp_path / "home" / ".cache" / "advdpnp" / "cifar-10-python.tar.gz").is_file()


# ---------------------------------------------------------------------------------------------
# SVHN
# ---------------------------------------------------------------------------------------------

def write_svhn(folder: Path, n_train=7, n_test=4, y_dtype=np.float64):
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        X = RNG.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(y_dtype).reshape(n, 1)  # 1..10, 10 = digit 0
        scipy.io.savemat(folder / svhn.FILES[split], {"X": X, "y": y})
        out[split] = (X, y)
    return out


@pytest.mark.parametrize("y_dtype", [np.float64, np.uint8])
def test_svhn_roundtrip_and_label_10_is_0(tmp_path, y_dtype):
    data = write_svhn(tmp_path, n_train=12, y_dtype=y_dtype)
    ds = DATASETS.get("svhn")(str(tmp_path))
    assert ds.train_x.shape == (12, 3, 32, 32) and ds.test_x.shape == (4, 3, 32, 32)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    X, y = data["train"]
    n, c, h, w = 3, 2, 7, 30
    assert ds.train_x[n, c, h, w] == X[h, w, c, n]
    assert torch.equal(ds.train_x, torch.from_numpy(X).permute(3, 2, 0, 1))
    assert ds.train_y.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    assert ds.test_y.tolist() == [1, 2, 3, 4] and ds.num_classes == 10


def test_svhn_subfolder_and_env(tmp_path, no_default_places):
    write_svhn(tmp_path / "svhn")
    assert len(svhn.svhn(str(tmp_path)).train_y) == 7
    write_svhn(tmp_path / "env-data" / "svhn", n_train=3)
    assert len(svhn.svhn(None).train_y) == 3


def test_svhn_missing_and_partial(tmp_path, no_default_places, offline):
    with pytest.raises(DataError) as e:
        svhn.svhn(str(tmp_path / "nope"))
    msg = one_line_error(e)
    assert "train_32x32.mat" in msg and "test_32x32.mat" in msg and "data.root=DIR" in msg
    with pytest.raises(DataError) as e:
        svhn.svhn(None)
    assert "svhn not found" in one_line_error(e)
    write_svhn(tmp_path / "p")
    (tmp_path / "p" / "test_32x32.mat").unlink()
    with pytest.raises(DataError) as e:
        svhn.svhn(str(tmp_path / "p"))
    assert "lacks test_32x32.mat" in one_line_error(e)
    assert not offline


def test_svhn_corrupt_and_mismatched_files(tmp_path):
    import scipy.io

    write_svhn(tmp_path)
    (tmp_path / "test_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 40)
    with pytest.raises(DataError) as e:
        svhn.svhn(str(tmp_path))
    assert "test_32x32.mat" in one_line_error(e)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.ones((3, 1))})
    with pytest.raises(DataError) as e:
        svhn.svhn(str(tmp_path))
    assert "4 images but 3 labels" in one_line_error(e)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((28, 28, 1, 4), np.uint8), "y": np.ones((4, 1))})
    with pytest.raises(DataError) as e:
        svhn.svhn(str(tmp_path))
    assert "expected (32, 32, 3, N)" in one_line_error(e)


def test_svhn_download_offline(tmp_path, offline):
    with pytest.raises(DataError) as e:
        svhn.svhn(str(tmp_path / "dl"), download=True)
    msg = one_line_error(e)
    assert "could not download http://ufldl.stanford.edu/housenumbers/train_32x32.mat" in msg


# ---------------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------------

def test_digits_fixed_stratified_split():
    from sklearn.datasets import load_digits

    ds = DATASETS.get("digits")(None)
    assert ds.train_x.shape == (1437, 1, 8, 8) and ds.test_x.shape == (360, 1, 8, 8)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert int(ds.train_x.max()) == 255 and int(ds.train_x.min()) == 0
    allowed = {round(v * 255 / 16) for v in range(17)}
    assert set(torch.unique(torch.cat([ds.train_x.flatten(), ds.test_x.flatten()])).tolist()) <= allowed
    # stratified: every class has ~20% of its images in the test split
    full = torch.bincount(torch.from_numpy(load_digits().target))
    test = torch.bincount(ds.test_y, minlength=10)
    assert torch.all((test.float() - 0.2 * full.float()).abs() <= 1)
    # the same images as sklearn's data, mapped
    d = load_digits().data
    assert int(ds.train_x.long().sum() + ds.test_x.long().sum()) == int(np.rint(d * 255 / 16).sum())
    again = DATASETS.get("digits")("/ignored", download=True)
    assert torch.equal(again.test_x, ds.test_x) and torch.equal(again.train_y, ds.train_y)


def test_synthetic_cifar_goes_through_the_real_reader_and_is_learnable(tmp_path):
    """scripts/make_synthetic_cifar.py (GPU smoke runs without the dataset) writes files the CIFAR reader
    accepts, with every class present and separable: a nearest-class-mean rule already gets them right."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "make_synthetic_cifar.py"
    spec = importlib.util.spec_from_file_location("make_synthetic_cifar", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.write(tmp_path, n_train=503, n_test=200, seed=0)
    ds = cifar.cifar10(str(tmp_path))
    assert ds.train_x.shape == (503, 3, 32, 32) and ds.test_x.shape == (200, 3, 32, 32)
    assert set(ds.train_y.tolist()) == set(range(10)) and ds.class_names[9] == "truck"
    x, tx = ds.train_x.flatten(1).float(), ds.test_x.flatten(1).float()
    means = torch.stack([x[ds.train_y == c].mean(0) for c in range(10)])
    acc = (torch.cdist(tx, means).argmin(1) == ds.test_y).float().mean().item()
    assert acc > 0.95, acc
    with pytest.raises(SystemExit, match="need --train >= 5"):
        mod.write(tmp_path / "bad", n_train=3, n_test=1, seed=0)
