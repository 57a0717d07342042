import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archspec.harness.training.config import DataConfig

TINY = "input 16x16x3 conv3-4 maxpool conv3-8 maxpool FC-16 FC-4 soft-max"


def synthetic(**kw) -> DataConfig:
    return DataConfig(source="synthetic", synthetic=(64, 4, 16), crop=16, scale=(16, 20), **kw)


@pytest.fixture
def image_folder(tmp_path, monkeypatch):
    """An ImageNet-layout folder: 3 classes, 6 train + 2 val JPEG/PNG images each, of varied sizes."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "imagenet"
    for split, n in (("train", 6), ("val", 2)):
        for c, name in enumerate(["n01", "n02", "n03"]):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                h, w = int(rng.integers(20, 40)), int(rng.integers(20, 40))
                pixels = np.clip(rng.normal(60 + 60 * c, 30, (h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(d / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


@pytest.fixture
def bf16_units(monkeypatch):
    """`set(amx=..., avx512_bf16=...)`: this machine as a CPU with those bf16 units (None: torch cannot tell), no
    CUDA, and no cap on oneDNN's instructions."""
    from archspec.harness.training.distributed import ISA_CAPS

    def set_units(amx: bool | None = False, avx512_bf16: bool | None = False) -> None:
        monkeypatch.setattr("torch.cuda.is_available", lambda: False)
        for name in ISA_CAPS:
            monkeypatch.delenv(name, raising=False)
        for name, has in (("_is_amx_tile_supported", amx), ("_is_avx512_bf16_supported", avx512_bf16)):
            if has is None:
                monkeypatch.delattr(f"torch.cpu.{name}", raising=False)
            else:
                monkeypatch.setattr(f"torch.cpu.{name}", lambda has=has: has, raising=False)

    return set_units


NOBODY = 65534


@contextmanager
def as_a_user():
    """File modes as a user meets them: root reads and writes past them, so under root the body runs with the
    effective uid and gid of nobody, restored after."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def open_tmp():
    """A folder any user may enter (pytest's tmp_path is root's alone when the tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix="archspec-test-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)
