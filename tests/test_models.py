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
    (dict(U=np.eye(2)), "missing required key 'W'"),
    (dict(W=np.ones((2, 3))), "square"),
    (dict(W=np.array([[np.inf]])), "non-finite"),
    (dict(W=np.eye(2), activation=np.array("gelu")), "unknown activation"),
    (dict(W=np.eye(2), extra=np.eye(2)), "unknown key"),
])
def test_bad_weights_files(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(ValueError, match=match):
        load_weights(path)


def test_unreadable_weights_file(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_text("not a zip file")
    with pytest.raises(ValueError, match="cannot read weights file"):
        load_weights(path)
    with pytest.raises(ValueError, match="cannot read weights file"):
        load_weights(tmp_path / "missing.npz")


def test_object_arrays_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, W=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="cannot read weights file"):
        load_weights(path)
