"""The C++ reference-backend op sweeps, replayed in the Python runtimes.

The C++ suite proves the reference kernels bit-exact with the TFLite 2.9 C
library. Here the very same graphs (written out by the op harness when
NONSTICK_DUMP_MODELS is set) run in tflite-runtime 2.14 and ai-edge-litert,
each compared byte for byte with that runtime's own builtin CPU kernels while
the delegate picks its numerics profile itself (cpu_profile=auto). Every node
must be delegated, or the comparison would be TFLite against itself.

The test binary comes from NONSTICK_TESTS_BIN (default
build/tests/nonstick_tests); without it the sweeps are skipped. All dumped
models run, two input sets each (no sampling).
"""
import atexit
import importlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import zlib

import numpy as np
import pytest

from conftest import ROOT, RUNTIMES, make_interpreter, run

TESTS_BIN = pathlib.Path(os.environ.get("NONSTICK_TESTS_BIN", ROOT / "build" / "tests" / "nonstick_tests"))
# The reference backend's sweeps; the rocket sweeps run with a tolerance.
GTEST_FILTER = "Reference/*:Sweep/*-Sweep/Rocket*"
SUMMARY = re.compile(r"nonstick: (\d+) of (\d+) nodes on (\S+)")


def dump_models():
    """Runs the C++ sweeps once with NONSTICK_DUMP_MODELS; returns (paths, why-none)."""
    if not TESTS_BIN.exists():
        return [], f"{TESTS_BIN} not built (set NONSTICK_TESTS_BIN)"
    out = pathlib.Path(tempfile.mkdtemp(prefix="nonstick-sweeps-"))
    atexit.register(shutil.rmtree, out, True)
    env = dict(os.environ, NONSTICK_DUMP_MODELS=str(out))
    proc = subprocess.run([str(TESTS_BIN), f"--gtest_filter={GTEST_FILTER}"], env=env,
                          capture_output=True, text=True, timeout=600)
    models = sorted(out.glob("*.tflite"))
    if not models:
        return [], f"{TESTS_BIN} dumped no model (exit {proc.returncode}):\n{proc.stdout[-2000:]}"
    return models, ""


MODELS, NO_MODELS = dump_models()


def float_input_range(it, tensor_index):
    """Inputs feeding QUANTIZE span the quantized output's range plus 10% each
    side, as the C++ harness does; other float inputs span [-1, 1]."""
    tensors = {d["index"]: d for d in it.get_tensor_details()}
    for op in it._get_ops_details():
        if op["op_name"] == "QUANTIZE" and tensor_index in list(op["inputs"]):
            q = tensors[int(op["outputs"][0])]
            scale, zero_point = q["quantization"]
            info = np.iinfo(q["dtype"])
            lo, hi = (info.min - zero_point) * scale, (info.max - zero_point) * scale
            return lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)
    return -1.0, 1.0


def sweep_inputs(it, seed):
    rng = np.random.default_rng(seed)
    inputs = []
    for d in it.get_input_details():
        if np.issubdtype(d["dtype"], np.integer):
            info = np.iinfo(d["dtype"])
            inputs.append(rng.integers(info.min, info.max, size=d["shape"], endpoint=True, dtype=d["dtype"]))
        else:
            lo, hi = float_input_range(it, d["index"])
            inputs.append(rng.uniform(lo, hi, size=d["shape"]).astype(d["dtype"]))
    return inputs


@pytest.mark.skipif(not MODELS, reason=NO_MODELS or "no models")
@pytest.mark.parametrize("model", MODELS or [None], ids=lambda p: p.stem if p else "none")
def test_sweep_matches_runtime(runtime, lib, model, capfd):
    try:
        cpu = make_interpreter(runtime, model)
    except (ValueError, RuntimeError) as e:
        pytest.skip(f"the runtime refuses this model: {str(e).splitlines()[0]}")
    delegate = runtime.load_delegate(lib, {"device": "reference", "log_level": "info", "cpu_profile": "auto"})
    npu = make_interpreter(runtime, model, delegate)
    err = capfd.readouterr().err
    summary = SUMMARY.findall(err)
    assert summary, f"no placement summary in stderr:\n{err}"
    delegated, total, device = summary[-1]
    assert device == "reference" and delegated == total, err
    base = zlib.crc32(model.stem.encode())
    for seed in (base, base + 1):
        inputs = sweep_inputs(cpu, seed)
        for i, (want, got) in enumerate(zip(run(cpu, inputs), run(npu, inputs))):
            if want.tobytes() == got.tobytes():
                continue
            diff = np.abs(want.astype(np.float64) - got.astype(np.float64))
            first = int(np.argmax(diff.reshape(-1) > 0))
            pytest.fail(f"output {i}: {int((diff > 0).sum())} of {diff.size} differ, max {diff.max()}; "
                        f"first at flat index {first}: runtime {want.reshape(-1)[first]}, "
                        f"delegate {got.reshape(-1)[first]}")


EXPECTED_PROFILE = {"tflite_runtime.interpreter": "tflite-runtime-2.14", "ai_edge_litert.interpreter": "litert"}
# A sweep graph whose bytes differ between 2.9's MEAN and both wheels' MEAN.
PROFILE_PROBE = "Reference_Mean.MatchesTflite_i8_in1x7x7x64_axes_1_2_keepdims_in0p0235zm128_out0p0191zm128"


@pytest.mark.skipif(not MODELS, reason=NO_MODELS or "no models")
def test_profile_follows_the_calling_runtime(runtime, lib, capfd):
    """auto names the runtime that calls Prepare even with both wheels loaded
    in the process, and forcing another profile changes the bytes: the sweeps
    above are sensitive to the profile."""
    for module in RUNTIMES:
        importlib.import_module(module)
    probe = [m for m in MODELS if m.stem == PROFILE_PROBE]
    if not probe:
        pytest.skip(f"{PROFILE_PROBE} was not dumped")
    cpu = make_interpreter(runtime, probe[0])
    inputs = sweep_inputs(cpu, 1)
    want = run(cpu, inputs)[0]
    results = {}
    for profile in ("auto", "tflite-2.9"):
        delegate = runtime.load_delegate(lib, {"device": "reference", "cpu_profile": profile})
        results[profile] = run(make_interpreter(runtime, probe[0], delegate), inputs)[0]
    err = capfd.readouterr().err
    assert f"reference kernels use {EXPECTED_PROFILE[runtime.__name__]} numerics (auto: " in err, err
    assert "reference kernels use tflite-2.9 numerics (cpu_profile=tflite-2.9)" in err, err
    assert results["auto"].tobytes() == want.tobytes()
    assert results["tflite-2.9"].tobytes() != want.tobytes()
