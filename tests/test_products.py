"""The products' seam (products.py): each path against NumPy, bfloat16 rounding against an exact
reference, how a path is chosen, and the path named through the CLI."""

import json

import numpy as np
import pytest

from charrnn import mkl, products
from charrnn.bfloat16 import to_bf16, to_float32
from charrnn.errors import CharrnnError
from charrnn.model import init_params, init_state, loss_and_grads
from conftest import TINY, invoke, tiny_config

HAS_MKL = mkl.library_path() is not None
needs_mkl = pytest.mark.skipif(not HAS_MKL, reason="the mkl wheel is not installed (pip install 'charrnn[mkl]')")
HAS_BF16 = bool(products.cpu()[1].intersection(products.BF16_FLAGS))
needs_bf16 = pytest.mark.skipif(not (HAS_MKL and HAS_BF16), reason="needs the mkl wheel and AVX512-BF16 or AMX")


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be another machine: machine(vendor, flags, mkl_installed); choices made fresh."""
    def pretend(vendor, flags=(), mkl_installed=False):
        monkeypatch.setattr(products, "cpu", lambda: (vendor, frozenset(flags)))
        if not mkl_installed:
            monkeypatch.setattr(mkl, "library_path", lambda: None)
        elif not HAS_MKL:
            monkeypatch.setattr(mkl, "library_path", lambda: "/nowhere/libmkl_rt.so.2")
        products.choose.cache_clear()
    yield pretend
    products.choose.cache_clear()


def exact_bf16(value):
    """The bfloat16 nearest a float32 (ties to the even pattern), worked out in float64 from its
    two neighbours: the float32 value itself, not the bit trick bfloat16.py uses."""
    bits = int(np.float32(value).view(np.uint32))
    if np.isnan(value):
        return None
    low = bits & 0xFFFF0000
    high = low + 0x10000

    def worth(pattern):
        magnitude = pattern & 0x7FFFFFFF
        exact = 2.0 ** 128 if magnitude == 0x7F800000 else float(np.uint32(magnitude).view(np.float32))
        return exact

    below, above, wanted = worth(low), worth(high), abs(float(value))
    if (bits & 0x7FFFFFFF) >= 0x7F800000:  # infinity
        return low >> 16
    if wanted - below < above - wanted or (wanted - below == above - wanted and not (low >> 16) & 1):
        return low >> 16
    return high >> 16


def test_bf16_rounds_to_nearest_even():
    rng = np.random.default_rng(0)
    ties = [np.uint32(m << 16 | 0x8000).view(np.float32) for m in (0x3F80, 0x3F81, 0xBF80, 0xBF81, 0x0001)]
    special = [0.0, -0.0, np.inf, -np.inf, np.float32(3.4028235e38), np.float32(-3.39e38), 1e-40, -1e-45,
               np.float32(1.00390625), np.float32(1.0058594)]
    values = np.array(list(rng.standard_normal(300) * 10.0 ** rng.integers(-30, 30, 300)) + ties + special,
                      np.float32)
    got = to_bf16(values.reshape(-1, 5)).ravel()
    assert [int(g) for g in got] == [exact_bf16(v) for v in values]
    assert to_float32(np.array([0x3F81], np.uint16))[0] == np.float32(1.0078125)


def test_bf16_keeps_nan_and_layout():
    x = np.array([[np.nan, -np.nan], [1.5, -2.25]], np.float32)
    x[0, 0] = np.uint32(0x7FFFFFFF).view(np.float32)  # the payload that would carry into the sign
    rounded = to_float32(to_bf16(x))
    assert np.isnan(rounded[0]).all() and (rounded[1] == x[1]).all()
    big = np.random.default_rng(1).standard_normal((6, 10)).astype(np.float32)
    for view in (big.T, big[:, 2:7], big.T[1:4]):
        out = to_bf16(view)
        assert out.shape == view.shape and (to_float32(out) == to_float32(to_bf16(np.ascontiguousarray(view)))).all()
    assert to_bf16(big.T).base is not None  # a transposed view stays one, for BLAS to read transposed


def operands(rng, M, K, N):
    """(a, b) pairs in the layouts the model multiplies: plain, transposed views, a block of columns."""
    a, b = rng.standard_normal((M, K)).astype(np.float32), rng.standard_normal((K, N)).astype(np.float32)
    wide = rng.standard_normal((K, 2 * N)).astype(np.float32)
    return [(a, b), (np.ascontiguousarray(a.T).T, b), (a, np.ascontiguousarray(b.T).T), (a, wide[:, N:]),
            (a[:1], b), (a[:, :0], b[:0])]


def available(name):
    if name != "openblas" and not HAS_MKL or name == "bf16" and not HAS_BF16:
        pytest.skip(f"products {name} needs the mkl wheel" + (" and AVX512-BF16 or AMX" if name == "bf16" else ""))
    return products.choose(name)


@pytest.mark.parametrize("name", ["openblas", "mkl", "bf16"])
@pytest.mark.parametrize("shape", [(5, 7, 9), (64, 256, 1024)])  # the second is split over the cores
def test_each_path_multiplies_as_numpy(name, shape):
    path, rng = available(name), np.random.default_rng(2)
    for a, b in operands(rng, *shape):
        got = path.mul(a, path.weight(b))
        assert got.dtype == np.float32 and got.shape == (a.shape[0], b.shape[1])
        if name == "bf16":  # exactly the float32 products of the rounded inputs, summed in float32
            a, b = (to_float32(to_bf16(x)) for x in (a, b))
        expected = a.astype(np.float64) @ b
        assert np.allclose(got, expected, rtol=1e-4, atol=1e-4 * np.sqrt(shape[1])), name


@pytest.mark.parametrize("name", ["mkl", "bf16"])
def test_training_on_each_path_matches_openblas(name):
    available(name)
    results = {}
    for path in ("openblas", name):
        config = tiny_config(cell="gru", hidden_size=32, num_layers=2, embedding_size=8, products=path)
        params, rng = init_params(config, 20, np.random.default_rng(0)), np.random.default_rng(1)
        ids = rng.integers(0, 20, (4, 17))
        with np.errstate(over="ignore"):
            results[path] = loss_and_grads(params, config, ids[:, :-1], ids[:, 1:], init_state(config, 4))
    tolerance = 2e-2 if name == "bf16" else 1e-4  # bf16: the inputs' rounding, 2^-9 relative each
    assert results[name].loss == pytest.approx(results["openblas"].loss, rel=tolerance / 10)
    for key, grad in results["openblas"].grads.items():
        assert np.abs(results[name].grads[key] - grad).max() <= tolerance * np.abs(grad).max() + 1e-7, key


def test_auto_takes_openblas_without_mkl_and_says_why(machine):
    machine("GenuineIntel", ["avx512_bf16", "amx_bf16"], mkl_installed=False)
    chosen = products.choose("auto")
    assert chosen.name == "openblas" and "pip install 'charrnn[mkl]'" in chosen.reason and chosen.mul is np.matmul


def test_auto_keeps_openblas_on_amd_even_with_mkl(machine):
    machine("AuthenticAMD", ["avx512_bf16"], mkl_installed=True)
    chosen = products.choose("auto")
    assert chosen.name == "openblas" and "generic path on this AuthenticAMD CPU" in chosen.reason


@needs_mkl
def test_auto_takes_mkl_on_intel_with_mkl(machine):
    machine("GenuineIntel", ["avx512_bf16"], mkl_installed=True)
    assert products.choose("auto").name == "mkl"  # bf16 is never automatic: it changes the numbers


def test_asking_for_what_the_machine_lacks_is_one_clear_error(machine):
    machine("GenuineIntel", ["avx2"], mkl_installed=False)
    with pytest.raises(CharrnnError, match=r"products mkl needs Intel's MKL: pip install 'charrnn\[mkl\]'"):
        products.choose("mkl")
    with pytest.raises(CharrnnError, match="products bf16 needs a CPU with AVX512-BF16 or AMX"):
        products.choose("bf16")
    machine("GenuineIntel", ["amx_bf16"], mkl_installed=False)
    with pytest.raises(CharrnnError, match="products bf16 needs Intel's MKL"):
        products.choose("bf16")


def test_float64_always_takes_numpy(machine):
    machine("GenuineIntel", [], mkl_installed=False)
    assert products.for_config(tiny_config(dtype="float64", products="mkl")).name == "openblas"


def test_the_cli_names_the_path(tmp_path, corpus_file):
    result = invoke("train", corpus_file, "--run-dir", tmp_path / "run", *TINY, "--products", "openblas")
    assert result.exit_code == 0, result.stderr
    config_lines = (tmp_path / "run" / "config.yaml").read_text().splitlines()
    assert "# products openblas (NumPy's OpenBLAS" in "\n".join(config_lines) and "products: openblas" in config_lines
    info = json.loads(invoke("info", tmp_path / "run", "--json").stdout)
    assert info["trained_with_products"] == "openblas" and info["products"].startswith("openblas (NumPy's OpenBLAS")
    assert "products: openblas (" in invoke("info", tmp_path / "run").stdout


def test_the_cli_refuses_a_missing_path_in_one_line(tmp_path, corpus_file, machine):
    machine("AuthenticAMD", ["avx2"], mkl_installed=False)
    result = invoke("train", corpus_file, "--run-dir", tmp_path / "run", *TINY, "--products", "mkl")
    assert result.exit_code == 1 and not (tmp_path / "run").exists()
    assert result.stderr.strip().splitlines() == [
        "Error: products mkl needs Intel's MKL: pip install 'charrnn[mkl]' (the mkl wheel); products auto takes "
        "NumPy's OpenBLAS without it"]
    result = invoke("train", corpus_file, "--run-dir", tmp_path / "auto", *TINY)  # auto: falls back, and says so
    assert result.exit_code == 0 and "auto: no MKL installed" in (tmp_path / "auto" / "config.yaml").read_text()
