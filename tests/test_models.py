import numpy as np
import pytest

from rnndyn.models import RNN, load_weights, make_rnn, save_weights

INITS = ("gaussian", "orthogonal", "identity", "sparse", "sigmoid", "basic-tanh", "smart-tanh")


@pytest.mark.parametrize("init", INITS)
def test_initialisers_are_seeded_and_shaped(init):
    a = make_rnn(20, n_inputs=3, init=init, gain=1.3, seed=5)
    b = make_rnn(20, n_inputs=3, init=init, gain=1.3, seed=5)
    c = make_rnn(20, n_inputs=3, init=init, gain=1.3, seed=6)
    assert a.W.shape == (20, 20) and a.U.shape == (20, 3) and a.b.shape == (20,)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.U, b.U)
    if init != "identity":
        assert not np.array_equal(a.W, c.W)
    assert np.all(a.b == 0)


def test_initialiser_properties():
    g = 1.7
    W = make_rnn(64, init="orthogonal", gain=g, seed=1).W
    np.testing.assert_allclose(W @ W.T, g * g * np.eye(64), atol=1e-12)
    np.testing.assert_array_equal(make_rnn(8, init="identity", gain=0.5).W, 0.5 * np.eye(8))
    W = make_rnn(60, init="sparse", gain=1.1, sparsity=7, seed=2).W
    assert np.all(np.count_nonzero(W, axis=1) == 7)
    assert np.isclose(np.max(np.abs(np.linalg.eigvals(W))), 1.1, rtol=1e-12)
    smart = make_rnn(60, init="smart-tanh", seed=3)
    assert smart.activation == "tanh"
    assert np.all(np.count_nonzero(smart.W, axis=1) == 15)
    assert np.isclose(np.max(np.abs(np.linalg.eigvals(smart.W))), 0.95, rtol=1e-12)
    assert make_rnn(5, init="sigmoid", activation="tanh").activation == "sigmoid"
    big = make_rnn(400, init="gaussian", gain=2.0, seed=4).W
    assert abs(big.std() * np.sqrt(400) - 2.0) < 0.05


def test_one_neuron_rnn():
    r = RNN([[5.0]], None, [-2.5], "sigmoid")
    assert r.N == 1 and r.M == 0
    x1 = r.step(np.array([0.5]))
    assert np.isclose(x1[0], 5.0 / (1 + np.exp(-0.5)) - 2.5, rtol=1e-14)


@pytest.mark.parametrize("bad, match", [
    (dict(W=np.ones((2, 3))), "square"),
    (dict(W=[[np.nan]]), "non-finite"),
    (dict(W=np.eye(2), b=np.ones(3)), "b must have shape"),
    (dict(W=np.eye(2), U=np.ones((3, 1))), "U must have shape"),
    (dict(W=np.eye(2), activation="softsign"), "unknown activation"),
    (dict(W=np.eye(2), form="jordan"), "unknown form"),
])
def test_bad_models_are_clear_errors(bad, match):
    kwargs = dict(W=np.eye(2), U=None, b=None)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=match):
        RNN(**kwargs)


def test_weights_roundtrip_and_defaults(tmp_path):
    r = make_rnn(4, n_inputs=2, activation="relu", form="elman", seed=1)
    path = tmp_path / "w.npz"
    save_weights(r, path)
    back = load_weights(path)
    assert np.array_equal(back.W, r.W) and np.array_equal(back.U, r.U)
    assert back.activation == "relu" and back.form == "elman"
    with pytest.raises(FileExistsError):
        save_weights(r, path)
    np.savez(tmp_path / "w_only.npz", W=np.eye(3))
    only = load_weights(tmp_path / "w_only.npz")
    assert only.M == 0 and only.activation == "tanh" and only.form == "pascanu"
    assert np.all(only.b == 0)


@pytest.mark.parametrize("content, match", [
    (dict(U=np.eye(2)), r"missing required array\(s\) \['W'\]"),
    (dict(W=np.ones((2, 3))), r"shape \(2, 3\), expected a square matrix"),
    (dict(W=np.array([[np.inf]])), "non-finite"),
    (dict(W=np.eye(2), activation=np.array("gelu")), "unknown activation"),
    (dict(W=np.eye(2), extra=np.eye(2)), r"unknown array\(s\) \['extra'\]"),
])
def test_bad_weights_files(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(ValueError, match=match):
        load_weights(path)


def test_unreadable_weights_file(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_text("not a zip file")
    with pytest.raises(ValueError, match="weights file .*junk.npz: is not an .npz file"):
        load_weights(path)
    with pytest.raises(ValueError, match="weights file .*missing.npz: no such file"):
        load_weights(tmp_path / "missing.npz")


def test_object_arrays_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, W=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="weights file .*pickled.npz: .*pickle"):
        load_weights(path)


# ------------------------------------------- a trained network loads as weights (issue 9 §3)

def _trained(tmp_path):
    from rnndyn.training import train
    res = train("addition", 10, method="sgd-c", init="gaussian", n_hidden=5, max_updates=20,
                eval_every=10, eval_size=100, seed=0, activation="relu", form="elman")
    res.save(tmp_path / "train")
    return res


def test_train_result_loads_as_the_network_it_trained(tmp_path):
    res = _trained(tmp_path)
    rnn = load_weights(tmp_path / "train.npz")
    assert (rnn.activation, rnn.form, rnn.N, rnn.M) == ("relu", "elman", 5, 2)
    np.testing.assert_array_equal(rnn.W, res.W)
    np.testing.assert_array_equal(rnn.U, res.U)
    np.testing.assert_array_equal(rnn.b, res.b)


def test_train_result_as_cli_weights(tmp_path):
    import json
    from click.testing import CliRunner
    from rnndyn.cli.main import cli
    from rnndyn.spectra import spectrum
    res = _trained(tmp_path)
    out = CliRunner().invoke(cli, ["spectrum", "--weights", str(tmp_path / "train.npz"),
                                   "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    want = spectrum(RNN(res.W, res.U, res.b, "relu", "elman"))
    assert got["spectral_radius"] == pytest.approx(want.spectral_radius, rel=1e-12)


def test_train_result_without_its_json_or_with_another_npz_is_refused(tmp_path):
    import shutil
    _trained(tmp_path)
    (tmp_path / "alone").mkdir()
    shutil.copyfile(tmp_path / "train.npz", tmp_path / "alone" / "train.npz")
    with pytest.raises(ValueError, match=r"alone/train\.json is missing"):
        load_weights(tmp_path / "alone" / "train.npz")
    np.savez(tmp_path / "train.npz", W=np.eye(5), U=np.zeros((5, 2)), b=np.zeros(5),
             V=np.zeros((1, 5)), c=np.zeros(1))
    with pytest.raises(ValueError, match="mixed or partial"):
        load_weights(tmp_path / "train.npz")


def test_make_rnn_refuses_what_memory_cannot_hold_before_allocating():
    import time
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"n=1000000 units: needs 14\.6 TiB, .* available"):
        make_rnn(10 ** 6)
    assert time.perf_counter() - t0 < 1.0
