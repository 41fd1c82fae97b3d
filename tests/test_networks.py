"""Generator family: shapes, folding, conversions, ONNX export parity."""
import numpy as np
import pytest
import torch

from engine_build.export import example_inputs, export_onnx, max_abs_diff
from vcam_sr.models.networks import (ECB, LUMA_WEIGHTS, PRESETS, PlainSR, as_y_only, build_generator,
                                   fold, warm_start)

LUMA = torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """Colour differences (R-Y, B-Y): unchanged when the same value is added to R, G and B."""
    y = (rgb * LUMA).sum(1, keepdim=True)
    return torch.cat([rgb[:, :1] - y, rgb[:, 2:] - y], 1)


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial weights everywhere (fresh nets start some branches at zero)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return model.eval()


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("size", [(32, 48), (37, 53), (1, 1)])
def test_every_preset_outputs_exactly_2x_luma(preset, size):
    model = build_generator(preset).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, *size), torch.randn(2, model.conditions))
    assert out.shape == (2, 1, size[0] * 2, size[1] * 2)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_folded_network_equals_unfolded(preset):
    model = randomise(build_generator(preset))
    inputs = example_inputs(model, 29, 41)
    folded = fold(model)
    assert not any(isinstance(m, ECB) for m in folded.modules())
    with torch.no_grad():
        diff = (model(*inputs) - folded(*inputs)).abs().max().item()
        assert model(*inputs).abs().max().item() > 0.1  # the comparison is not between two zeros
    assert diff < 1e-4


def test_the_condition_changes_the_output():
    model = randomise(build_generator("fast"))
    y = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        a, b = model(y, torch.zeros(1, 3)), model(y, torch.full((1, 3), 2.0))
    assert (a - b).abs().max() > 1e-3


def test_luma_generator_changes_only_luma():
    model = randomise(PlainSR(16, 2, luma=True))
    x = torch.rand(1, 3, 21, 30)
    with torch.no_grad():
        out, anchor_only = model(x), model.shuffle(model.anchor(x))
    assert (out - anchor_only).abs().max() > 0.05  # the body does change the picture
    assert torch.allclose(chroma(out), chroma(anchor_only), atol=1e-5)


def test_warm_start_turns_an_rgb_generator_into_a_luma_one_with_the_same_luma():
    rgb = randomise(PlainSR(16, 2, luma=False))
    luma = PlainSR(16, 2, luma=True)
    warm_start(luma, rgb.state_dict())
    x = torch.rand(1, 3, 23, 31)
    with torch.no_grad():
        y_rgb, y_luma = ((m.eval()(x) * LUMA).sum(1) for m in (rgb, luma))
    assert y_rgb.abs().max() > 0.1
    assert torch.allclose(y_rgb, y_luma, atol=1e-4)
    with pytest.raises(ValueError, match="different preset"):
        warm_start(luma, PlainSR(32, 2, luma=True).state_dict())


def test_an_rgb_input_net_becomes_a_y_only_net_with_the_same_luma_on_grey_frames():
    rgb = randomise(PlainSR(16, 2, luma=True))
    y_net = as_y_only(rgb)
    grey = torch.rand(1, 1, 19, 23)
    with torch.no_grad():
        want = (rgb(grey.repeat(1, 3, 1, 1)) * LUMA).sum(1, keepdim=True)
        got = y_net(grey)
    assert want.abs().max() > 0.1
    assert torch.allclose(want, got, atol=1e-5)


def test_a_conditioned_net_warm_started_from_a_plain_one_starts_as_the_same_function():
    plain = randomise(PlainSR(16, 2, y_only=True))
    conditioned = PlainSR(16, 2, y_only=True, conditions=3)
    warm_start(conditioned, plain.state_dict())
    y = torch.rand(1, 1, 17, 21)
    with torch.no_grad():
        assert torch.allclose(plain(y), conditioned.eval()(y, torch.randn(1, 3)), atol=1e-6)


def test_warm_start_grows_a_deeper_plain_generator_that_starts_as_the_same_function():
    shallow = randomise(PlainSR(8, 1, y_only=True))
    deep = PlainSR(8, 3, y_only=True)
    warm_start(deep, shallow.state_dict())
    y = torch.rand(1, 1, 19, 27)
    with torch.no_grad():
        want, got = shallow(y), deep.eval()(y)
    assert (want - deep.shuffle(deep.anchor(y))).abs().max() > 0.05  # the body does something
    assert torch.allclose(want, got, atol=1e-5)
    deep.train()(y).sum().backward()  # the new blocks learn: their last convs get gradients
    assert deep.body[2].conv3.weight.grad.abs().sum() > 0


def test_fresh_plain_generator_starts_at_bicubic():
    from PIL import Image

    from conftest import TRAIN_IMAGES

    if not TRAIN_IMAGES:
        pytest.skip("../shared/data/train is not beside the repository")
    model = build_generator("fast").eval()
    grey = np.asarray(Image.open(TRAIN_IMAGES[0]).convert("L"))[:48, :60]
    with torch.no_grad():
        ours = model(torch.from_numpy(grey)[None, None].float() / 255, torch.randn(1, 3))[0, 0]
    pil = np.asarray(Image.fromarray(grey).resize((120, 96), Image.BICUBIC)).astype(np.float32)
    assert np.abs(ours.numpy() * 255 - pil)[4:-4, 4:-4].max() < 3.0  # PIL rounds between passes


@pytest.mark.parametrize("preset", ["fast", pytest.param("quality", marks=pytest.mark.slow)])
def test_onnx_export_matches_pytorch(preset, tmp_path):
    model = randomise(build_generator(preset))
    path = export_onnx(model, tmp_path / f"{preset}.onnx")
    assert max_abs_diff(model, path) < 1e-4


def test_export_handles_compile_and_ddp_prefixes(tmp_path):
    from vcam_sr.models.networks import load_checkpoint

    model = randomise(build_generator("fast"))
    state = {f"_orig_mod.{k}": v for k, v in model.state_dict().items()}
    torch.save({"preset": "fast", "generator": state, "ema": None}, tmp_path / "c.pt")
    loaded, _ = load_checkpoint(tmp_path / "c.pt")
    inputs = example_inputs(model, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(*inputs), model(*inputs))


def test_a_checkpoint_that_needs_code_to_load_is_refused(tmp_path):
    """User .pt files load with weights_only=True: a pickle that would run code is an error."""
    from vcam_sr.models.networks import load_checkpoint

    class Payload:
        def __reduce__(self):
            return (print, ("ran code",))

    torch.save({"preset": "fast", "generator": {}, "payload": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="damaged or not a PyTorch file"):
        load_checkpoint(tmp_path / "evil.pt")


class RandomPerCall(torch.nn.Module):
    """A net whose output changes on every call, so no export of it can match PyTorch."""

    conditions = 0

    def forward(self, x):
        up = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return up + 0.1 * torch.rand_like(up)


def test_export_refuses_a_graph_that_does_not_match_pytorch(tmp_path):
    out = tmp_path / "bad.onnx"
    with pytest.raises(ValueError, match="differs from PyTorch"):
        export_onnx(RandomPerCall(), out)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary
