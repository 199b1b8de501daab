"""Check that every shipped model loads and predicts with KERAS_BACKEND=jax (and torch), without TensorFlow.

Here, with the TensorFlow backend, each model of ``stem_zoo.list_models()`` is loaded with
``stem_zoo.load(id)`` and run on a fixed seeded input (standard normal, float32, batch 3, the
model's input shape; the fully convolutional ``atom_fcn`` at its 96 x 96 training crop): the
reference. A throw-away venv then gets the same ``keras`` release, ``jax[cpu]`` (and, with
``--backends jax,torch``, ``torch==2.13.0``, the CPU wheel on this machine's disk), numpy and
h5py, and no TensorFlow (``import tensorflow`` must fail there, and must not have been imported
by the end). There, with ``KERAS_BACKEND=<backend>`` and without the repository on the path, each
``model.keras`` of ``stem_zoo.registry.FOLDERS`` is loaded with
``keras.saving.load_model(path, compile=False)`` (no custom objects: the files hold only built-in
Keras layers; the losses and metrics registered by stem_zoo are not in them: they were saved
uncompiled) and predicts on the same input. Per model it prints max |difference| and that over
max |reference| (the output scale); PASS if the latter is <= 1e-4. Why 1e-4: float32 has
eps 1.2e-7, and TensorFlow (oneDNN), XLA and PyTorch sum the convolutions' thousands of terms in
different orders, which moves the outputs by ~1e-6 of their scale; a real discrepancy (a layer
mis-read, a wrong data layout, dropout or batch statistics at inference) moves them by O(1).
Informational only (not PASS/FAIL): whether ``stem_zoo.load(id)`` itself works there, with the
repository on PYTHONPATH. Not a test: it needs the package registry (about 0.6 GB for JAX).
Exit status 0 if every model passes on every backend, else 1.

    .venv/bin/python bench/check_keras_backends.py                         # jax, temporary venv
    .venv/bin/python bench/check_keras_backends.py --venv /tmp/kbvenv --backends jax,torch

Measured 2026-12-05, 2 CPU cores: reference keras 3.15.1 on TensorFlow 2.21.0; venv Python 3.11.7,
keras 3.15.1, jax/jaxlib 0.10.2, torch 2.13.0+cpu, numpy 2.4.6, h5py 3.16.0. Install: base 7 s
(156 MB), + jax[cpu] 9 s (693 MB in all), + torch 20 s (1550 MB in all). Every model PASS on both
backends; max |diff| / max |ref|: jax 1.3e-8 (cbed_interface_cnn) to 9.8e-7 (atom_fcn), torch
1.2e-7 (cbed_interface_cnn) to 1.1e-6 (polarization_dcnn). ``stem_zoo.load`` itself also works
there without TensorFlow. Whole run about 2 min (jax,torch, venv reused).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported (by keras, for the reference)
ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-4  # max |difference| / max |reference|
BATCH = 3
SEED = 20261205
PACKAGES = {"jax": ["jax[cpu]"], "torch": ["torch==2.13.0"]}

CHECK = r'''
import json, sys, traceback
import numpy as np
import keras

backend, inputs, paths, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
assert keras.backend.backend() == backend, keras.backend.backend()
try:
    import tensorflow  # noqa: F401
    raise SystemExit("tensorflow is importable in this venv")
except ImportError:
    pass
data = np.load(inputs)
results = {}
for model_id, path in json.loads(open(paths).read()).items():
    try:
        model = keras.saving.load_model(path, compile=False)
        outputs = model.predict(data[f"x/{model_id}"], verbose=0)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        results.update({f"{model_id}/{k}": np.asarray(keras.ops.convert_to_numpy(o)) for k, o in enumerate(outputs)})
        print(f"ok   {model_id}: {type(model).__name__}, {len(model.layers)} layers", flush=True)
    except Exception:
        print(f"ERR  {model_id}:\n{traceback.format_exc()}", flush=True)
np.savez(out, **results)
assert "tensorflow" not in sys.modules, "keras imported tensorflow"
versions = {"python": sys.version.split()[0], "keras": keras.__version__, "numpy": np.__version__}
for name in ("jax", "jaxlib", "torch", "h5py"):
    try:
        versions[name] = __import__(name).__version__
    except ImportError:
        pass
print("versions " + json.dumps(versions))
'''

ZOO_LOAD = r'''
import sys
import stem_zoo
for model_id in sys.argv[1:]:
    stem_zoo.load(model_id)
print("ok   stem_zoo.load(...) of " + ", ".join(sys.argv[1:]) + "; tensorflow imported: " + str("tensorflow" in sys.modules))
'''


def reference(work: Path) -> tuple[dict[str, str], dict[str, list[np.ndarray]]]:
    """Load every shipped model with stem_zoo.load (TensorFlow backend) and run it on a seeded input."""
    import logging

    import keras

    import stem_zoo
    from stem_zoo import registry

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # the retracing warning of one predict per model

    assert keras.backend.backend() == "tensorflow", keras.backend.backend()
    rng = np.random.default_rng(SEED)
    paths, inputs, outputs = {}, {}, {}
    for model_id in stem_zoo.list_models():
        model = stem_zoo.load(model_id)
        crop = iter(registry.get_entry(model_id).input.crop_shape)
        shape = [d if d is not None else next(crop) for d in model.input_shape[1:]]
        x = rng.standard_normal((BATCH, *shape)).astype(np.float32)
        y = model.predict(x, verbose=0)
        inputs[f"x/{model_id}"] = x
        outputs[model_id] = [np.asarray(o) for o in (y if isinstance(y, (list, tuple)) else [y])]
        paths[model_id] = str(registry.FOLDERS[model_id] / "model.keras")
        print(f"ref  {model_id}: input {x.shape}, outputs {[o.shape for o in outputs[model_id]]}", flush=True)
    np.savez(work / "inputs.npz", **inputs)
    return paths, outputs


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def install(python: Path, packages: list[str]) -> tuple[bool, float]:
    start = time.perf_counter()
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
    return done.returncode == 0, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=None, help="venv to create or reuse (default: a temporary one, removed)")
    parser.add_argument("--backends", default="jax", help="comma-separated, of: jax, torch (default: jax)")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - set(PACKAGES):
        raise SystemExit(f"--backends: choose from {', '.join(PACKAGES)}")
    import keras

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths, expected = reference(work)
        venv = Path(args.venv) if args.venv else work / "venv"
        python = venv / "bin" / "python"
        if not python.exists():
            print(f"creating {venv} ...", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        else:
            print(f"reusing {venv} ...", flush=True)
        failed = []
        for step, packages in [("base", [f"keras=={keras.__version__}", "numpy", "h5py"])] + [
                (b, PACKAGES[b]) for b in backends]:
            ok, seconds = install(python, packages)
            print(f"install {step} ({' '.join(packages)}): {seconds:.0f} s, venv now {size_mb(venv):.0f} MB"
                  + ("" if ok else "  FAILED"), flush=True)
            if not ok:
                failed.append(f"install {step}")
        if subprocess.run([str(python), "-c", "import tensorflow"], capture_output=True).returncode == 0:
            print("FAIL tensorflow is importable in the venv")
            return 1
        if failed:
            print("FAIL " + ", ".join(failed))
            return 1
        (work / "check.py").write_text(CHECK)
        (work / "zoo_load.py").write_text(ZOO_LOAD)
        (work / "paths.json").write_text(json.dumps(paths))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
        rows = []
        for backend in backends:
            out = work / f"{backend}.npz"
            start = time.perf_counter()
            done = subprocess.run([str(python), str(work / "check.py"), backend, str(work / "inputs.npz"),
                                   str(work / "paths.json"), str(out)], cwd=work, capture_output=True, text=True,
                                  env={**env, "KERAS_BACKEND": backend})
            print(f"--- KERAS_BACKEND={backend} ({time.perf_counter() - start:.0f} s)\n{done.stdout}", end="")
            if done.returncode != 0:
                print(done.stderr[-3000:])
                failed.append(f"{backend}: the check script failed")
            got = dict(np.load(out)) if out.exists() else {}
            for model_id, refs in expected.items():
                outs = [got.get(f"{model_id}/{k}") for k in range(len(refs))]
                if any(o is None or o.shape != r.shape for o, r in zip(outs, refs)):
                    rows.append((backend, model_id, float("nan"), float("nan"), "FAIL (not loaded or wrong shape)"))
                    failed.append(f"{backend}/{model_id}")
                    continue
                diff = max(float(np.max(np.abs(o.astype(np.float64) - r))) for o, r in zip(outs, refs))
                scale = max(float(np.max(np.abs(r))) for r in refs)
                verdict = "PASS" if diff <= TOLERANCE * scale else "FAIL"
                if verdict == "FAIL":
                    failed.append(f"{backend}/{model_id}")
                rows.append((backend, model_id, diff, diff / scale, verdict))
            zoo = subprocess.run([str(python), str(work / "zoo_load.py"), *paths], cwd=work, capture_output=True,
                                 text=True, env={**env, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)})
            last = (zoo.stdout + zoo.stderr).strip().splitlines() or ["(no output)"]
            print(f"info stem_zoo.load with KERAS_BACKEND={backend}, repository on PYTHONPATH: "
                  + ("works" if zoo.returncode == 0 else "fails") + f": {last[-1]}")
        print(f"\n{'backend':8} {'model':24} {'max|diff|':>10} {'/max|ref|':>10}  verdict (tolerance {TOLERANCE:g})")
        for backend, model_id, diff, rel, verdict in rows:
            print(f"{backend:8} {model_id:24} {diff:10.2e} {rel:10.2e}  {verdict}")
        if not args.venv:
            shutil.rmtree(venv, ignore_errors=True)
    if failed:
        print("FAIL " + ", ".join(failed))
        return 1
    print(f"PASS every shipped model ({len(expected)}) loads without TensorFlow and predicts like TensorFlow "
          f"with KERAS_BACKEND={','.join(backends)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
