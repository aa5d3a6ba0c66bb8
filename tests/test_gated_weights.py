"""Gated cells' initialisers (rnndyn.gated) and PyTorch weights (rnndyn.torch_weights):
issue 11 §2. A loaded state dict must run exactly as the PyTorch module does."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import RTOL_EXACT
from rnndyn import cells
from rnndyn._validate import InputError
from rnndyn.gated import make_gated, pack_bias
from rnndyn.models import RNN, load_weights, make_rnn, save_weights
from rnndyn.simulate import trajectory
from rnndyn.torch_weights import load_torch_weights

H, M, T = 6, 3, 25
# Statistical checks of the initialisers: relative error of a sample moment of n ≈ 10⁴
# draws is about 1/√n ≈ 1 %; 10 % leaves room for every seed
RTOL_MOMENT = 0.1
# forget-gate biases drawn by chrono stay inside log U(1, T_max - 1) by construction
ATOL_RANGE = 0.0

MODULES = ("RNN-tanh", "RNN-relu", "LSTM", "GRU", "LSTMCell", "GRUCell")


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the reference for state dicts")


def _module(torch, name, dtype=None, bias=True):
    """A seeded float64 (or ``dtype``) torch module of the kind ``name``."""
    torch.manual_seed(11)
    nn = torch.nn
    make = {"RNN-tanh": lambda: nn.RNN(M, H, bias=bias),
            "RNN-relu": lambda: nn.RNN(M, H, nonlinearity="relu", bias=bias),
            "LSTM": lambda: nn.LSTM(M, H, bias=bias), "GRU": lambda: nn.GRU(M, H, bias=bias),
            "LSTMCell": lambda: nn.LSTMCell(M, H, bias=bias),
            "GRUCell": lambda: nn.GRUCell(M, H, bias=bias)}[name]
    return make().to(dtype or torch.float64)


def _torch_states(torch, mod, name, s0, u):
    """h_1 … h_T (T, H) and the last state (h, c) or h of ``mod`` from s0 with inputs u."""
    tu = torch.tensor(u)
    h0 = torch.tensor(s0[:H]).view(1, H)
    c0 = torch.tensor(s0[H:]).view(1, H) if "LSTM" in name else None
    with torch.no_grad():
        if name.endswith("Cell"):
            h, c, out = h0, c0, []
            for t in range(len(u)):
                if c is None:
                    h = mod(tu[t].view(1, M), h)
                else:
                    h, c = mod(tu[t].view(1, M), (h, c))
                out.append(h.view(-1))
            hs = torch.stack(out)
        else:
            state = (h0.view(1, 1, H), c0.view(1, 1, H)) if c0 is not None else h0.view(1, 1, H)
            hs, last = mod(tu.view(len(u), 1, M), state)
            hs = hs.view(len(u), H)
            c = last[1] if c0 is not None else None
    return hs.numpy(), None if c is None else c.reshape(-1).numpy()


def _state_dict_npz(torch, mod, path):
    np.savez(path, **{k: v.detach().numpy() for k, v in mod.state_dict().items()})
    return path


def _check_same_run(torch, rnn, mod, name, rng):
    S = cells.STATE_BLOCKS[rnn.cell] * H
    s0 = 0.5 * rng.standard_normal(S)
    u = rng.standard_normal((T, M))
    X, _ = trajectory(rnn, s0, T, u)
    hs, c = _torch_states(torch, mod, name, s0, u)
    np.testing.assert_allclose(X[1:, :H], hs, rtol=RTOL_EXACT, atol=RTOL_EXACT)
    if c is not None:
        np.testing.assert_allclose(X[-1, H:], c, rtol=RTOL_EXACT, atol=RTOL_EXACT)


def _activation(name):
    return "relu" if name == "RNN-relu" else None


# ------------------------------------------------------------ PyTorch state dicts

@pytest.mark.torch
@pytest.mark.parametrize("name", MODULES)
def test_pt_state_dict_runs_as_the_torch_module(torch, name, tmp_path, rng):
    mod = _module(torch, name)
    torch.save(mod.state_dict(), tmp_path / "w.pt")
    rnn = load_weights(tmp_path / "w.pt", activation=_activation(name))
    _check_same_run(torch, rnn, mod, name, rng)


@pytest.mark.torch
@pytest.mark.parametrize("name", MODULES)
def test_npz_of_the_same_keys_runs_as_the_torch_module(torch, name, tmp_path, rng):
    mod = _module(torch, name)
    rnn = load_weights(_state_dict_npz(torch, mod, tmp_path / "w.npz"),
                       activation=_activation(name))
    _check_same_run(torch, rnn, mod, name, rng)


@pytest.mark.torch
@pytest.mark.parametrize("name", ("RNN-tanh", "LSTM", "GRUCell"))
def test_bias_false_modules_load_with_zero_biases(torch, name, tmp_path, rng):
    mod = _module(torch, name, bias=False)
    torch.save(mod.state_dict(), tmp_path / "w.pt")
    rnn = load_weights(tmp_path / "w.pt")
    assert np.all(rnn.b == 0) and rnn.origin["bias"] is False
    _check_same_run(torch, rnn, mod, name, rng)


@pytest.mark.torch
@pytest.mark.parametrize("name, cell, form, module", [
    ("RNN-tanh", "vanilla", "elman", "nn.RNN"), ("LSTM", "lstm", None, "nn.LSTM"),
    ("GRU", "gru", None, "nn.GRU"), ("LSTMCell", "lstm", None, "nn.LSTMCell"),
    ("GRUCell", "gru", None, "nn.GRUCell")])
def test_the_cell_is_inferred_and_float32_becomes_float64(torch, name, cell, form, module,
                                                          tmp_path):
    mod = _module(torch, name, dtype=torch.float32)
    torch.save(mod.state_dict(), tmp_path / "w.pt")
    rnn = load_weights(tmp_path / "w.pt")
    assert rnn.cell == cell and (form is None or rnn.form == form)
    assert rnn.origin == {"source": "torch", "module": module, "dtype": "float32", "bias": True,
                          **({"nonlinearity": "assumed"} if cell == "vanilla" else {})}
    assert rnn.W.dtype == np.float64 and (rnn.N, rnn.M) == (H, M)
    sd = mod.state_dict()
    suffix = "" if name.endswith("Cell") else "_l0"
    np.testing.assert_array_equal(rnn.W, sd["weight_hh" + suffix].double().numpy())
    b_ih, b_hh = (sd[k + suffix].double().numpy() for k in ("bias_ih", "bias_hh"))
    np.testing.assert_array_equal(rnn.b, pack_bias(cell, b_ih, b_hh))
    half = _module(torch, name, dtype=torch.float16)
    assert load_weights(_state_dict_npz(torch, half, tmp_path / "h.npz")).origin["dtype"] == \
        "float16"


def test_packed_gru_bias_keeps_b_in_and_b_hn_apart():
    b_ih, b_hh = np.arange(6.0), 10 * np.arange(6.0)   # H = 2: r, z, n blocks
    np.testing.assert_array_equal(pack_bias("gru", b_ih, b_hh),
                                  [0, 11, 22, 33, 4, 5, 40, 50])
    np.testing.assert_array_equal(pack_bias("lstm", b_ih[:4], b_hh[:4]), 11 * np.arange(4.0))


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _sd(G=4, h=H, m=M, suffix="_l0", **extra):
    z = np.zeros
    out = {f"weight_ih{suffix}": z((G * h, m)), f"weight_hh{suffix}": z((G * h, h)),
           f"bias_ih{suffix}": z(G * h), f"bias_hh{suffix}": z(G * h)}
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize("arrays, fragment", [
    # a stray key of a second layer or a reverse direction: an incomplete stacked dict
    (_sd(weight_ih_l1=np.zeros((4 * H, H))), "missing weight_hh_l1"),
    (_sd(weight_hh_l0_reverse=np.zeros((4 * H, H))), "missing weight_ih_l0_reverse"),
    (_sd(weight_hr_l0=np.zeros((2, H))), "proj_size > 0"),
    (_sd(extra=np.zeros(1)), "unknown key(s) ['extra']"),
    (_sd(suffix="", weight_hh_l0=np.zeros((4 * H, H))), "mixes the keys"),
    (_sd(bias_hh_l0=None), "holds bias_ih_l0 but not bias_hh_l0"),
    (_sd(weight_ih_l0=None), "missing weight_ih_l0"),
    (_sd(weight_hh_l0=np.zeros((5 * H, H))), "expected (G·H, H) with G = 1"),
    (_sd(weight_hh_l0=np.zeros(H)), "weight_hh_l0 has shape (6,)"),
    (_sd(bias_ih_l0=np.zeros(3 * H)), "bias_ih_l0 has shape (18,), but weight_hh_l0"),
    (_sd(weight_ih_l0=np.zeros((3 * H, M))), "weight_ih_l0 has shape (18, 3)"),
    (_sd(weight_hh_l0=np.zeros((4 * H, H), dtype=np.int64)), "weight_hh_l0 has dtype int64"),
    (_sd(bias_hh_l0=np.full(4 * H, np.nan)), "bias_hh_l0 holds 24 non-finite value(s)"),
])
def test_bad_state_dict_npz_is_an_input_error_naming_the_file(arrays, fragment, tmp_path):
    path = _npz(tmp_path / "sd.npz", **arrays)
    with pytest.raises(InputError) as info:
        load_weights(path)
    assert str(path) in str(info.value) and fragment in str(info.value), str(info.value)


def test_prefixed_keys_say_to_save_the_recurrent_module(tmp_path):
    path = _npz(tmp_path / "model.npz", **{"rnn." + k: v for k, v in _sd().items()})
    with pytest.raises(InputError, match=r"containing model's prefix.*model\.rnn\.state_dict"):
        load_weights(path)


def test_activation_goes_with_nn_rnn_only(tmp_path):
    path = _npz(tmp_path / "lstm.npz", **_sd())
    with pytest.raises(InputError, match="applies to an nn.RNN state dict.*lstm.npz"):
        load_weights(path, activation="relu")
    with pytest.raises(InputError, match="unknown activation 'sigmoid'"):
        load_torch_weights(_npz(tmp_path / "rnn.npz", **_sd(G=1)), activation="sigmoid")


@pytest.mark.torch
def test_bad_pt_files_are_input_errors_naming_the_file(torch, tmp_path):
    cases = {"module.pt": _module(torch, "LSTM"),                       # a whole module
             "checkpoint.pt": {"model": _module(torch, "GRU").state_dict(), "epoch": 3},
             "tensor.pt": torch.zeros(3),
             "ints.pt": {k: v.to(torch.int32) for k, v in _module(torch, "GRU")
                         .state_dict().items()},
             "inf.pt": {k: v.fill_(float("inf")) for k, v in _module(torch, "GRU")
                        .state_dict().items()}}
    want = {"module.pt": "torch.load(weights_only=True) refused it",
            "checkpoint.pt": "the entry 'model' holds a dict",
            "tensor.pt": "holds a Tensor, not a state dict", "ints.pt": "has dtype int32",
            "inf.pt": "non-finite"}
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(InputError) as info:
            load_weights(tmp_path / name)
        msg = str(info.value)
        assert str(tmp_path / name) in msg and want[name] in msg, msg
    (tmp_path / "junk.pt").write_bytes(b"not a torch file at all")
    with pytest.raises(InputError, match="junk.pt: not a readable PyTorch file"):
        load_weights(tmp_path / "junk.pt")


def test_missing_empty_or_directory_pt_is_named_before_torch_is_needed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "dir.pt").mkdir()
    for name, fragment in (("missing.pt", "no such file"), ("empty.pt", "is empty"),
                           ("dir.pt", "is a directory")):
        with pytest.raises(InputError, match=f"weights file .*{name}: {fragment}"):
            load_weights(tmp_path / name)


@pytest.mark.torch
def test_a_torch_archive_under_another_name_is_read_by_torch(torch, tmp_path, rng):
    mod = _module(torch, "GRU")
    torch.save(mod.state_dict(), tmp_path / "w.bin")
    _check_same_run(torch, load_weights(tmp_path / "w.bin"), mod, "GRU", rng)


def test_pt_without_torch_says_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "w.pt").write_bytes(b"PK")
    monkeypatch.setitem(sys.modules, "torch", None)   # import torch → ImportError
    with pytest.raises(InputError) as info:
        load_weights(tmp_path / "w.pt")
    msg = str(info.value)
    assert str(tmp_path / "w.pt") in msg and "pip install torch" in msg and ".npz" in msg


def test_importing_rnndyn_does_not_import_torch(tmp_path):
    code = ("import sys, rnndyn, rnndyn.models, rnndyn.torch_weights, rnndyn.gated; "
            "print('torch' in sys.modules)")
    # cwd=tmp_path: the checkout's rnndyn/ folder must not shadow the installed package
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": ""})
    assert out.stdout.strip() == "False", out.stderr


# ------------------------------------------------------------ rnndyn's own files

@pytest.mark.parametrize("cell", ("lstm", "gru"))
def test_gated_weights_roundtrip(cell, tmp_path):
    rnn = make_rnn(5, n_inputs=2, cell=cell, init="pytorch", forget_bias=1.0, seed=3)
    save_weights(rnn, tmp_path / "g.npz")
    back = load_weights(tmp_path / "g.npz")
    assert back.cell == cell
    for name in ("W", "U", "b"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rnn, name))
    np.savez(tmp_path / "bad.npz", W=np.zeros((20, 5)), cell=np.array("gru"))
    with pytest.raises(InputError, match=r"bad.npz: W must be shape \(3N, N\)"):
        load_weights(tmp_path / "bad.npz")
    np.savez(tmp_path / "odd.npz", W=np.zeros((20, 5)), cell=np.array("tree"))
    with pytest.raises(InputError, match="odd.npz: unknown cell 'tree'"):
        load_weights(tmp_path / "odd.npz")


def test_vanilla_weights_files_keep_their_keys(tmp_path):
    save_weights(make_rnn(3, seed=0), tmp_path / "v.npz")
    assert sorted(np.load(tmp_path / "v.npz").files) == ["U", "W", "activation", "b", "form"]
    relu = load_weights(tmp_path / "v.npz", activation="relu")
    assert relu.activation == "relu" and relu.form == "pascanu"


# ------------------------------------------------------------ initialisers

@pytest.mark.parametrize("cell", ("lstm", "gru"))
@pytest.mark.parametrize("init", ("pytorch", "gaussian", "orthogonal"))
def test_initialisers_are_seeded_and_shaped(cell, init):
    G = cells.GATES[cell]
    a, b, c = (make_gated(cell, 7, n_inputs=2, init=init, seed=s) for s in (4, 4, 5))
    assert (a.W.shape, a.U.shape, a.b.shape) == ((G * 7, 7), (G * 7, 2), (4 * 7,))
    for name in ("W", "U", "b"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.W, c.W)
    assert a.cell == cell and a.origin == {"init": init, "gain": 1.0, "forget_bias": 0.0,
                                           "seed": 4}


def test_make_rnn_dispatches_to_make_gated_and_keeps_vanilla():
    a = make_rnn(6, n_inputs=2, cell="gru", init="orthogonal", gain=0.7, seed=2)
    b = make_gated("gru", 6, n_inputs=2, init="orthogonal", gain=0.7, seed=2)
    np.testing.assert_array_equal(a.W, b.W)
    # the vanilla path draws what it drew before gated cells (gaussian_matrix, then U)
    rng = np.random.default_rng(9)
    W = rng.standard_normal((6, 6)) * (1.0 / np.sqrt(6))
    U = rng.standard_normal((6, 2)) / np.sqrt(2)
    v = make_rnn(6, n_inputs=2, seed=9)
    np.testing.assert_array_equal(v.W, W)
    np.testing.assert_array_equal(v.U, U)
    with pytest.raises(InputError, match="apply to the gated cells"):
        make_rnn(6, forget_bias=1.0)
    with pytest.raises(InputError, match="activation and form apply to the vanilla cell"):
        make_rnn(6, cell="lstm", activation="relu")
    with pytest.raises(InputError, match="unknown init 'sparse'"):
        make_rnn(6, cell="lstm", init="sparse")


def test_initialiser_scales():
    N, Mi, g = 100, 50, 1.5
    k = 1 / np.sqrt(N)
    p = make_gated("lstm", N, n_inputs=Mi, init="pytorch", gain=g, seed=1)
    assert np.max(np.abs(p.W)) <= g * k and np.max(np.abs(p.U)) <= k
    assert np.var(p.W) == pytest.approx((g * k) ** 2 / 3, rel=RTOL_MOMENT)
    assert np.var(p.U) == pytest.approx(k ** 2 / 3, rel=RTOL_MOMENT)
    # the packed b is the sum of two U(-k, k) draws: |b| <= 2k, variance 2k²/3
    assert np.max(np.abs(p.b)) <= 2 * k
    assert np.var(p.b) == pytest.approx(2 * k ** 2 / 3, rel=3 * RTOL_MOMENT)  # 400 values
    gs = make_gated("gru", N, n_inputs=Mi, init="gaussian", gain=g, seed=1)
    assert np.var(gs.W) == pytest.approx(g ** 2 / N, rel=RTOL_MOMENT)
    assert np.var(gs.U) == pytest.approx(1 / Mi, rel=RTOL_MOMENT)
    assert np.all(gs.b == 0)
    o = make_gated("lstm", N, init="orthogonal", gain=g, seed=1)
    for q in range(4):
        B = o.W[q * N:(q + 1) * N]
        np.testing.assert_allclose(B @ B.T, g * g * np.eye(N), atol=RTOL_EXACT * N)
    assert not np.allclose(o.W[:N], o.W[N:2 * N])   # drawn per gate


@pytest.mark.parametrize("cell", ("lstm", "gru"))
def test_forget_bias_lands_in_the_keep_gate(cell):
    N = 5
    base = make_gated(cell, N, n_inputs=2, init="pytorch", seed=8)
    fb = make_gated(cell, N, n_inputs=2, init="pytorch", forget_bias=3.0, seed=8)
    diff = fb.b - base.b
    want = np.zeros(4 * N)
    want[N:2 * N] = 3.0   # LSTM f (i, f, g, o); GRU z in [r, z, n_i, n_h]
    np.testing.assert_allclose(diff, want, rtol=0, atol=RTOL_EXACT)
    np.testing.assert_array_equal(fb.W, base.W)
    # the keep gate opens: at zero state and input, f (or z) = σ(b) > 0.95
    a = make_gated(cell, N, forget_bias=3.0, seed=8)
    assert np.all(1 / (1 + np.exp(-a.b[N:2 * N])) > 0.95)


@pytest.mark.parametrize("cell", ("lstm", "gru"))
def test_chrono_biases(cell):
    N, t_max = 400, 50.0
    rnn = make_gated(cell, N, forget_bias="chrono", chrono_t_max=t_max, seed=2)
    b_keep = rnn.b[N:2 * N]
    assert np.all(b_keep >= np.log(1.0) - ATOL_RANGE)
    assert np.all(b_keep <= np.log(t_max - 1) + ATOL_RANGE)
    # log U(1, T_max - 1): e^b is uniform, mean T_max / 2
    assert np.mean(np.exp(b_keep)) == pytest.approx(t_max / 2, rel=RTOL_MOMENT)
    if cell == "lstm":
        np.testing.assert_array_equal(rnn.b[:N], -b_keep)
        assert np.all(rnn.b[2 * N:] == 0)
    else:
        assert np.all(rnn.b[:N] == 0) and np.all(rnn.b[2 * N:] == 0)
    assert rnn.origin["forget_bias"] == "chrono" and rnn.origin["chrono_t_max"] == t_max
    again = make_gated(cell, N, forget_bias="chrono", chrono_t_max=t_max, seed=2)
    np.testing.assert_array_equal(again.b, rnn.b)


@pytest.mark.parametrize("kwargs, match", [
    (dict(forget_bias="chrono"), "needs chrono_t_max"),
    (dict(forget_bias="chrono", chrono_t_max=2.0), "chrono_t_max must be > 2"),
    (dict(chrono_t_max=10), "goes with forget_bias='chrono'"),
    (dict(forget_bias="warp"), "unknown forget_bias 'warp'"),
    (dict(init="identity"), "unknown init 'identity'"),
    (dict(cell="vanilla"), "unknown cell 'vanilla'"),
])
def test_bad_initialiser_arguments(kwargs, match):
    args = {"cell": "lstm", **kwargs}
    with pytest.raises(InputError, match=match):
        make_gated(args.pop("cell"), 4, **args)


def test_make_gated_refuses_what_memory_cannot_hold():
    with pytest.raises(InputError, match=r"an LSTM of n=1000000 units: needs"):
        make_gated("lstm", 10 ** 6)


def test_rnn_from_make_gated_is_an_rnn():
    assert isinstance(make_gated("gru", 3), RNN)
