"""devices.toml against the published figures, typed here independently from the vendors' datasheets and the
PCI-SIG specification: a typo such as link_gbs = 0.12 for V100's 150 GB/s fails here."""

import pytest

from archspec.errors import ArchspecError
from archspec.harness.planning import devices as device_table
from archspec.harness.planning.devices import FIGURES, Device

PUBLISHED = {  # device: (peak TFLOPS per precision, dense; memory GB; link GB/s per direction; per node; network GB/s)
    # GeForce GTX Titan Black page: 5.1 TFLOPS fp32, 6 GB; PCIe 3.0 x16: 8 GT/s x 16 x 128/130 / 8 bits; the paper: 4
    "titan-black": ({"fp32": 5.1}, 6, 8 * 16 * 128 / 130 / 8, 4, 56 * 64 / 66 / 8 / 4),
    # Tesla V100 datasheet (SXM2): 15.7 fp32, 125 tensor fp16, 32 GB, NVLink 300 GB/s both ways; DGX-1: 4 x 100 Gb/s
    "v100": ({"fp32": 15.7, "fp16": 125}, 32, 300 / 2, 8, 4 * 100 / 8 / 8),
    # A100 datasheet: 19.5 fp32; TF32 156 and bf16 312 dense (twice that with sparsity); 80 GB; NVLink 600 GB/s
    # both ways; DGX A100: one 200 Gb/s HDR port per GPU
    "a100": ({"fp32": 19.5, "tf32": 156, "bf16": 312}, 80, 600 / 2, 8, 200 / 8),
    # H100 SXM datasheet: 67 fp32, TF32 989.4 and bf16 1,978.9 with sparsity (halved dense), 80 GB, NVLink 900; NDR 400
    "h100": ({"fp32": 67, "tf32": 989.4 / 2, "bf16": 1978.9 / 2}, 80, 900 / 2, 8, 400 / 8),
    # H200 SXM datasheet: H100's compute, 141 GB HBM3e, NVLink 900; NDR 400
    "h200": ({"fp32": 67, "tf32": 989.4 / 2, "bf16": 1978.9 / 2}, 141, 900 / 2, 8, 400 / 8),
}
HOSTS = {  # device: (CPU cores a node, host memory GB a node), from the node's datasheet
    "titan-black": (6, 64),  # NVIDIA DIGITS DevBox (2015): one 6-core Core i7-5930K, 64 GB DDR4 (an assumption)
    "v100": (2 * 20, 512),  # DGX-1: two 20-core Xeon E5-2698 v4, 512 GB DDR4
    "a100": (2 * 64, 2048),  # DGX A100 640GB: two 64-core EPYC 7742, 2 TB
    "h100": (2 * 56, 2048),  # DGX H100: two 56-core Xeon Platinum 8480C, 2 TB
    "h200": (2 * 56, 2048),  # DGX H200: the same host as DGX H100
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_gpu_figure_is_the_published_one(name):
    d = device_table.devices()[name]
    peak, memory, link, node, network = PUBLISHED[name]
    assert d.peak_tflops == pytest.approx(peak, rel=1e-3)
    assert d.memory_gib == memory and d.node == node
    assert d.link_gbs == pytest.approx(link, rel=1e-3)
    assert d.network_gbs == pytest.approx(network, rel=0.01)
    assert (d.cpus_per_node, d.host_memory_gib) == HOSTS[name]


def test_every_figure_of_every_device_cites_its_source():
    for d in device_table.devices().values():
        assert set(FIGURES) <= set(d.sources) and all(d.sources[f].strip() for f in FIGURES)


def test_a_figure_without_a_source_is_refused_in_one_line(tmp_path, monkeypatch):
    toml = tmp_path / "devices.toml"
    toml.write_text(
        '[x]\ntitle = "x"\nkind = "gpu"\npeak_tflops = { fp32 = 1.0 }\nmemory_gib = 1\nlink_gbs = 1\nnode = 1\n'
        'network_gbs = 1\ncpus_per_node = 1\nhost_memory_gib = 1\n[x.sources]\npeak_tflops = "a datasheet"\n'
    )
    monkeypatch.setattr(device_table, "DEVICES_FILE", toml)
    device_table.devices.cache_clear()
    try:
        with pytest.raises(
            ArchspecError, match=r"\[x\]: .*no source for memory_gib, link_gbs, node, network_gbs, cpus"
        ):
            device_table.devices()
    finally:
        device_table.devices.cache_clear()
    assert Device.model_fields.keys() >= set(FIGURES)
