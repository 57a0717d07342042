"""The pool backward's unpool kernel against torch's max_unpool2d, with the ReLU mask and odd sizes."""

import pytest
import torch
import torch.nn.functional as F

from archspec.compiler.kernels.unpool import max_unpool

pytestmark = pytest.mark.usefixtures("on_device")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 5, 7, 9)])  # even; odd rows and columns (floor pooling)
def test_routes_the_gradient_to_the_argmax_through_the_relu(shape, dtype):
    n, c, h, w = shape
    pre = torch.randn(shape)
    y, where = F.max_pool2d(F.relu(pre), 2, 2, return_indices=True)
    idx = ((where // w % 2) * 2 + where % w % 2).to(torch.int8).contiguous(memory_format=torch.channels_last)
    y = y.to(dtype).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(y.shape, dtype=dtype)  # NCHW, read through its strides
    out = max_unpool(grad, y, idx, (h, w))
    expected = F.max_unpool2d(grad.float() * (y > 0), where, 2, 2, output_size=(h, w))
    assert out.dtype == dtype and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out.float(), expected)


def test_rejects_a_size_that_does_not_pool_to_the_gradient():
    g = torch.randn(1, 2, 3, 3)
    with pytest.raises(ValueError, match="does not pool to 3x3"):
        max_unpool(g, g, torch.zeros(g.shape, dtype=torch.int8), (8, 8))
