"""Shared fixtures: where the delegate library and the models are, and the
two Python runtimes the delegate is checked against."""
import importlib
import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("NONSTICK_DATA", ROOT.parent / "shared"))
LIB = pathlib.Path(os.environ.get("NONSTICK_LIB", ROOT / "build" / "libnonstick.so"))

# module name -> what it is; each is compared with its *own* builtin CPU kernels
RUNTIMES = {
    "tflite_runtime.interpreter": "tflite-runtime 2.14",
    "ai_edge_litert.interpreter": "ai-edge-litert",
}


def models():
    return sorted((DATA / "models").glob("*.tflite")) if (DATA / "models").is_dir() else []


@pytest.fixture(params=list(RUNTIMES), ids=lambda m: m.split(".")[0])
def runtime(request):
    try:
        return importlib.import_module(request.param)
    except ImportError as e:  # pragma: no cover - setup.sh installs both
        pytest.fail(f"{RUNTIMES[request.param]} not installed: {e}")


@pytest.fixture(scope="session")
def lib():
    if not LIB.exists():
        pytest.fail(f"{LIB} not built; run scripts/setup.sh")
    return str(LIB)


def make_interpreter(rt, model, delegate=None):
    """Builtin CPU kernels only (no default XNNPACK): the path the reference
    backend is bit-exact with. Delegated runs use the same resolver, so the
    nodes left on the CPU run the same kernels in both interpreters."""
    kwargs = dict(model_path=str(model),
                  experimental_op_resolver_type=rt.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    if delegate is not None:
        kwargs["experimental_delegates"] = [delegate]
    it = rt.Interpreter(**kwargs)
    it.allocate_tensors()
    return it


def random_inputs(it, seed):
    rng = np.random.default_rng(seed)
    out = []
    for d in it.get_input_details():
        info = np.iinfo(d["dtype"]) if np.issubdtype(d["dtype"], np.integer) else None
        if info is None:
            out.append(rng.standard_normal(d["shape"]).astype(d["dtype"]))
        else:
            out.append(rng.integers(info.min, info.max, size=d["shape"], endpoint=True, dtype=d["dtype"]))
    return out


def run(it, inputs):
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]
