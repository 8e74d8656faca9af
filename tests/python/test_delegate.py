"""libnonstick.so loaded with load_delegate() in tflite-runtime 2.14 and
ai-edge-litert: every real model must give the same bytes as that runtime's
own builtin CPU kernels, with the expected nodes delegated."""
import re

import numpy as np
import pytest
from PIL import Image

from conftest import DATA, make_interpreter, models, random_inputs, run

SUMMARY = re.compile(r"nonstick: (\d+) of (\d+) nodes on (\S+)")


def delegated_counts(captured):
    m = SUMMARY.findall(captured)
    assert m, f"no placement summary in stderr:\n{captured}"
    delegated, total, device = m[-1]
    return int(delegated), int(total), device


def assert_byte_identical(cpu, npu, context):
    """Every output of `npu` equals `cpu`'s byte for byte on two random inputs."""
    for seed in (1, 2):
        inputs = random_inputs(cpu, seed)
        for i, (want, got) in enumerate(zip(run(cpu, inputs), run(npu, inputs))):
            diff = np.abs(want.astype(np.float64) - got.astype(np.float64))
            assert want.tobytes() == got.tobytes(), (
                f"output {i}: {int((diff > 0).sum())} of {diff.size} differ, max {diff.max()} ({context})")


@pytest.mark.parametrize("model", models(), ids=lambda p: p.stem)
def test_model_matches_cpu(runtime, lib, model, capfd):
    cpu = make_interpreter(runtime, model)
    delegate = runtime.load_delegate(lib, {"device": "reference", "log_level": "info"})
    npu = make_interpreter(runtime, model, delegate)
    delegated, total, device = delegated_counts(capfd.readouterr().err)
    assert device == "reference"
    assert delegated > 0, "nothing was delegated: the comparison would prove nothing"
    assert_byte_identical(cpu, npu, f"{delegated}/{total} nodes delegated")


def test_classifies_grace_hopper(runtime, lib):
    model = DATA / "models" / "mobilenet_v2_1.0_224_quant.tflite"
    labels = (DATA / "labels" / "imagenet_labels.txt").read_text().splitlines()
    image = Image.open(DATA / "images" / "grace_hopper.bmp").convert("RGB").resize((224, 224))
    x = np.asarray(image, dtype=np.uint8)[None]
    cpu = make_interpreter(runtime, model)
    npu = make_interpreter(runtime, model, runtime.load_delegate(lib, {"device": "reference"}))
    (want,), (got,) = run(cpu, [x]), run(npu, [x])
    assert labels[int(np.argmax(got))] == "military uniform"
    assert want.tobytes() == got.tobytes()


def test_unknown_option_is_ignored_with_a_message(runtime, lib, capfd):
    model = DATA / "models" / "mobilenet_v1_0.25_128_quant.tflite"
    delegate = runtime.load_delegate(lib, {"device": "reference", "no_such_option": "1"})
    npu = make_interpreter(runtime, model, delegate)
    err = capfd.readouterr().err
    assert "unknown option 'no_such_option'" in err
    assert delegated_counts(err)[0] == 31


def test_unavailable_device_keeps_everything_on_cpu(runtime, lib, capfd):
    model = DATA / "models" / "mobilenet_v1_0.25_128_quant.tflite"
    cpu = make_interpreter(runtime, model)
    npu = make_interpreter(runtime, model, runtime.load_delegate(lib, {"device": "no-such-npu"}))
    err = capfd.readouterr().err
    assert "unknown device 'no-such-npu'" in err
    assert delegated_counts(err)[0] == 0
    inputs = random_inputs(cpu, 3)
    assert run(cpu, inputs)[0].tobytes() == run(npu, inputs)[0].tobytes()


# The rocket device (the virtual RK3588 without a board) from Python with
# exact=0, which also places ops one step off on some inputs: each model
# against the hosting runtime's own builtin kernels, random inputs. The
# encoder follows that runtime's rounding (cpu_profile auto, settled at
# Prepare); bounds are the measured maxima, 0 = bit-exact. The others have
# layers the compile-time proof does not accept (docs/virtual-rk3588.md §11):
# negative outputs the runtime rounds half away from zero, which one DPU
# offset cannot follow (MobileNet V3's unclamped depthwise layers;
# tflite-runtime 2.14's unclamped uint8 convolutions), and int8 per-channel
# layers' 16-bit multipliers (tf2, vww).
ROCKET_MAX_DIFF = {
    "mobilenet_v2_1.0_224_quant": {"tflite_runtime": 2, "ai_edge_litert": 0},
    "mobilenet_v3_small_224_1.0_uint8": {"tflite_runtime": 38, "ai_edge_litert": 16},
    "tf2_mobilenet_v2_1.0_224_ptq": 11,
    "vww_mobilenet_v1_0.25_96_int8": 1,
}


@pytest.mark.parametrize("model", models(), ids=lambda p: p.stem)
def test_model_on_the_virtual_rk3588_with_exact_0(runtime, lib, model, capfd):
    cpu = make_interpreter(runtime, model)
    delegate = runtime.load_delegate(lib, {"device": "rocket", "exact": "0", "log_level": "info"})
    npu = make_interpreter(runtime, model, delegate)
    delegated, total, device = delegated_counts(capfd.readouterr().err)
    assert device == "rocket"
    bound = ROCKET_MAX_DIFF.get(model.stem, 0)
    if isinstance(bound, dict):
        bound = bound[runtime.__name__.split(".")[0]]
    worst = 0.0
    for seed in (1, 2):
        inputs = random_inputs(cpu, seed)
        for want, got in zip(run(cpu, inputs), run(npu, inputs)):
            worst = max(worst, float(np.abs(want.astype(np.float64) - got.astype(np.float64)).max(initial=0)))
    assert worst <= bound, f"max difference {worst} > {bound} ({delegated}/{total} nodes on rocket)"


# The default (exact=1): only ops whose encoding is proven (at compile time,
# against the hosting runtime's rounding) to give that runtime's output for
# every input run on the rocket device, so every model must match byte for
# byte.
@pytest.mark.parametrize("model", models(), ids=lambda p: p.stem)
def test_default_is_bit_exact_on_the_virtual_rk3588(runtime, lib, model, capfd):
    cpu = make_interpreter(runtime, model)
    npu = make_interpreter(runtime, model, runtime.load_delegate(lib, {"device": "rocket", "log_level": "info"}))
    delegated, total, device = delegated_counts(capfd.readouterr().err)
    assert device == "rocket"
    assert_byte_identical(cpu, npu, f"{delegated}/{total} nodes on rocket by default (exact=1)")
