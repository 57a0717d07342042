"""The planner's evaluation FLOPs per image against torch's own FLOP counter (FlopCounterMode) running the protocol's
forward passes: one definition of each method (`archspec.views`) serves both, so they cannot drift apart. The
passes run on the meta device: torch counts each op's FLOPs from its shapes without computing it."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archspec
from archspec.compiler.dense import to_dense
from archspec.harness.evaluation.protocol import centre_posterior, scale_posteriors
from archspec.harness.planning import cost as cost_model
from archspec.views import CENTRE, SCALED

CASES = [  # (net, classes, input, Q): ImageNet's crop 224 at the paper's Q, and the small suite's crop 32
    *((net, 10, "224x224x3", q) for net in ("D", "resnet18", "googlenet") for q in (256, 384, 512)),
    *(("D", 10, "32x32x1", q) for q in (37, 55)),
    *((net, 10, "32x32x1", 55) for net in ("resnet18", "googlenet")),
]


def counted(fn) -> int:
    with FlopCounterMode(display=False) as flops:
        fn()
    return flops.get_total_flops()


@pytest.mark.parametrize(("name", "classes", "size", "q"), CASES, ids=lambda v: str(v))
def test_plan_eval_flops_equal_what_the_protocol_runs(name, classes, size, q):
    net = archspec.network(name, num_classes=classes, input=size, width=1 / 32)
    model = archspec.compile(net).eval().to("meta")
    dense, crop = to_dense(model), net.input.height
    x01 = torch.empty(1, net.input.channels, q, q, device="meta")  # (1, C, Q, Q): an image at the test scale
    with torch.no_grad():
        for method in SCALED:
            ran = counted(lambda m=method: scale_posteriors(model, dense, x01, q, crop, lambda x: x, (m.name,)))
            assert cost_model.eval_flops(net, (method,), q) == ran, method.name
        assert cost_model.eval_flops(net, (CENTRE,), q) == counted(lambda: centre_posterior(model, x01, crop))


def test_with_multi_crop_images_the_crop_rows_are_costed_on_those_images_only(tmp_path):
    """Bench's two passes for the tiny suite's T/16: its dense rows (single and multi scale, and the centre crop
    with the single scale) on all 60 scored images; its multi-crop & dense row (multi scale only) on the first 40."""
    from archspec.harness.suite import load_suite
    from archspec.views import BOTH, DENSE

    from ..bench.test_bench import SUITE, write

    text = SUITE.replace("eval_limit = 60", "eval_limit = 60\nmulti_crop_images = 40")
    plan = next(p for p in cost_model.entry_plans(load_suite(write(tmp_path, text))) if p.entry.id == "T/16")

    def at(method, qs):
        return sum(cost_model.eval_flops(plan.net, (method,), q) for q in qs)

    centre = cost_model.eval_flops(plan.net, (CENTRE,), plan.q_single[0])
    dense = at(DENSE, plan.q_single) + at(DENSE, plan.q_multi) + centre
    assert plan.eval_flops == 60 * dense + 40 * at(BOTH, plan.q_multi)
    whole = cost_model.entry_plans(load_suite(write(tmp_path, SUITE)))[0]  # one pass: every method on all 60
    assert whole.eval_flops == 60 * (at(BOTH, whole.q_single) + at(BOTH, whole.q_multi) + centre)  # dense in both


def test_rows_that_read_only_the_centre_crop_are_costed_without_a_dense_pass(tmp_path):
    """The ResNet paper tests its CIFAR nets on one view: an entry whose every row is the centre crop needs no
    scaled method, so bench runs (and the planner costs) the centre crop alone, 1 view an image, not 16 dense
    windows beside it."""
    from archspec.harness.suite import load_suite, needs

    from ..bench.test_bench import SUITE, write

    row = '{ label = "T centre", train = ["T/16"], protocol = "single", method = "centre" }'
    text = SUITE.split("[[table]]")[0] + f'[[table]]\nname = "C"\ntitle = "centre"\nrows = [{row}]\n'
    suite = load_suite(write(tmp_path, text))
    assert needs(suite, "T/16") == (("single",), ())
    assert needs(suite, "U/16") == (("single",), ("dense",))  # named by no row: the single-scale dense pass
    plan = next(p for p in cost_model.entry_plans(suite) if p.entry.id == "T/16")
    assert plan.eval_flops == 60 * cost_model.eval_flops(plan.net, (CENTRE,), plan.q_single[0])
    assert plan.eval_flops == 60 * 2 * archspec.infer(plan.net).macs  # one forward pass of the net an image
