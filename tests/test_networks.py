"""Generator family: shapes, folding, ONNX export parity, int8 quantisation."""
import numpy as np
import pytest
import torch

from conftest import SHARED, VAL, needs_shared
from engine_build.export import export_onnx, max_abs_diff
from engine_build.networks import (ECB, LUMA_WEIGHTS, PRESETS, Discriminator, PlainSR,
                                   build_generator, fold, warm_start)
from training.data import load_val_set
from vcam_sr.models import resolve_model

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
def test_every_preset_outputs_exactly_2x(preset, size):
    model = build_generator(preset).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, size[0] * 2, size[1] * 2)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_folded_network_equals_unfolded(preset):
    model = randomise(build_generator(preset))
    x = torch.rand(1, 3, 29, 41)
    folded = fold(model)
    assert not any(isinstance(m, ECB) for m in folded.modules())
    with torch.no_grad():
        diff = (model(x) - folded(x)).abs().max().item()
        assert model(x).abs().max().item() > 0.1  # the comparison is not between two zeros
    assert diff < 1e-4


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
        warm_start(luma, build_generator("quality").state_dict())


def test_warm_start_grows_a_deeper_plain_generator_that_starts_as_the_same_function():
    shallow = randomise(PlainSR(8, 1, luma=True))
    deep = PlainSR(8, 3, luma=True)
    warm_start(deep, shallow.state_dict())
    x = torch.rand(1, 3, 19, 27)
    with torch.no_grad():
        want, got = shallow(x), deep.eval()(x)
    assert (want - deep.shuffle(deep.anchor(x))).abs().max() > 0.05  # the body does something
    assert torch.allclose(want, got, atol=1e-5)
    deep.train()(x).sum().backward()  # the new blocks learn: their last convs get gradients
    assert deep.body[2].conv3.weight.grad.abs().sum() > 0


def test_fresh_plain_generator_starts_at_bicubic():
    from PIL import Image

    from conftest import TRAIN_IMAGES

    if not TRAIN_IMAGES:
        pytest.skip("../shared/data/train is not beside the repository")
    model = build_generator("fast").eval()
    lr = np.asarray(Image.open(TRAIN_IMAGES[0]).convert("RGB"))[:48, :60]
    with torch.no_grad():
        ours = model(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255)[0]
    ours = ours.permute(1, 2, 0).numpy() * 255
    pil = np.asarray(Image.fromarray(lr).resize((120, 96), Image.BICUBIC)).astype(np.float32)
    assert np.abs(ours - pil)[4:-4, 4:-4].max() < 3.0  # PIL rounds to 8 bits between passes


def test_discriminator_accepts_any_patch_size():
    d = Discriminator()
    for size in [(48, 48), (96, 64), (33, 70)]:
        assert d(torch.rand(3, 3, *size)).shape == (3,)


@pytest.mark.parametrize("preset", ["fast", "quality"])
def test_onnx_export_matches_pytorch(preset, tmp_path):
    model = randomise(build_generator(preset))
    path = export_onnx(model, tmp_path / f"{preset}.onnx")
    assert max_abs_diff(model, path) < 1e-4


def test_export_handles_compile_and_ddp_prefixes(tmp_path):
    from engine_build.networks import load_checkpoint

    model = randomise(build_generator("fast"))
    state = {f"_orig_mod.{k}": v for k, v in model.state_dict().items()}
    torch.save({"preset": "fast", "generator": state, "ema": None}, tmp_path / "c.pt")
    loaded, _ = load_checkpoint(tmp_path / "c.pt")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@needs_shared()
def test_int8_model_stays_close_to_fp32_on_a_real_image(tmp_path):
    """Full-range int8 weights saturate ONNX Runtime's u8s8 kernels on AVX2 CPUs: Set5's first
    image then came out ~26 dB from the fp32 output; with 7-bit weights ~42 dB."""
    from engine_build import quantize
    from training.evaluate import onnx_upscaler

    out = tmp_path / "fast.int8.onnx"
    fp32 = resolve_model("fast")
    assert quantize.main([str(fp32), "--data", str(SHARED / "train" / "t91"), "--out", str(out)]) == 0
    _, lr, _ = load_val_set(VAL, "Set5")[0]
    ours, int8 = (onnx_upscaler(path)(lr).astype(np.float64) / 255 for path in (fp32, out))
    assert 10 * np.log10(1 / np.mean((ours - int8) ** 2)) > 38


class RandomPerCall(torch.nn.Module):
    """A net whose output changes on every call, so no export of it can match PyTorch."""

    def forward(self, x):
        up = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return up + 0.1 * torch.rand_like(up)


def test_export_refuses_a_graph_that_does_not_match_pytorch(tmp_path):
    out = tmp_path / "bad.onnx"
    with pytest.raises(ValueError, match="differs from PyTorch"):
        export_onnx(RandomPerCall(), out)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary
