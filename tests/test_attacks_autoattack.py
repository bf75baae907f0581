"""The AutoAttack adapter: official attacks, AutoAttack <= PGD, and resume after a kill."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from advdpnp.attacks.autoattack import autoattack_correct
from advdpnp.commands.eval import aa_state_path
from advdpnp.errors import UserError
from advdpnp.evaluate.accuracy import clean_correct, pgd_correct

from evalkit import Crashing, digits, trained

EPS = 0.1
CHEAP = ["apgd-ce", "apgd-dlr"]  # two official attacks of 100 iterations: the resume logic, not APGD-T's cost


def _data(n=40):
    _, _, x, y = digits()
    return x[:n], y[:n]


def test_autoattack_custom_is_at_least_as_strong_as_pgd():
    model, (x, y) = trained(), _data(20)
    clean = clean_correct(model, x, y)
    aa, info = autoattack_correct(model, x, y, EPS, "custom", block=20, progress=False)
    pgd = clean & pgd_correct(model, x, y, EPS, EPS / 4, 20)
    assert aa.float().mean() <= pgd.float().mean()
    assert not (aa & ~clean).any()
    assert info["attacks"] == ["apgd-ce", "apgd-t"] and set(info["accuracy_after"]) == {"apgd-ce", "apgd-t"}


def test_progress_bar_names_the_attack_running(capsys):
    """APGD-T costs several times APGD-CE per block: one undivided bar would promise an early finish."""
    model, (x, y) = trained(), _data(20)
    autoattack_correct(model, x, y, EPS, attacks=CHEAP, block=10, progress=True)
    err = capsys.readouterr().err
    assert "autoattack apgd-ce (1/2)" in err and "autoattack apgd-dlr (2/2)" in err
    assert err.index("apgd-ce (1/2)") < err.index("apgd-dlr (2/2)")


def test_killed_autoattack_resumes_to_the_same_flags(tmp_path):
    model, (x, y) = trained(), _data(20)
    fresh = Crashing(model, limit=10**9)
    reference, _ = autoattack_correct(fresh, x, y, EPS, attacks=CHEAP, block=5, progress=False)
    state = tmp_path / "aa.state.json"
    with pytest.raises(KeyboardInterrupt):
        autoattack_correct(Crashing(model, limit=fresh.calls // 2), x, y, EPS, attacks=CHEAP, block=5,
                           state_path=state, progress=False)
    done = json.loads(state.read_text())["done"]
    assert 0 < len(done) < 8  # killed in the middle: some (attack, block) pairs done, not all
    counter = Crashing(model, limit=10**9)
    resumed, _ = autoattack_correct(counter, x, y, EPS, attacks=CHEAP, block=5, state_path=state, progress=False)
    assert torch.equal(resumed, reference)
    assert counter.calls < fresh.calls  # the finished blocks were skipped, not re-attacked


def test_state_of_another_evaluation_is_refused(tmp_path):
    model, (x, y) = trained(), _data(10)
    state = tmp_path / "aa.state.json"
    autoattack_correct(model, x, y, EPS, attacks=["apgd-ce"], block=10, state_path=state, progress=False)
    with pytest.raises(UserError, match="another evaluation"):
        autoattack_correct(model, x, y, 2 * EPS, attacks=["apgd-ce"], block=10, state_path=state,
                           progress=False)


def test_state_of_another_model_on_the_same_points_is_refused(tmp_path):
    # two models evaluated into one folder once shared a state file: the second resumed the first's flags
    model, (x, y) = trained(), _data(10)
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    state = tmp_path / "aa.state.json"
    autoattack_correct(model, x, y, EPS, attacks=["apgd-ce"], block=10, state_path=state, progress=False)
    with pytest.raises(UserError, match="another evaluation"):
        autoattack_correct(other, x, y, EPS, attacks=["apgd-ce"], block=10, state_path=state, progress=False)


def test_state_files_of_evaluations_in_one_folder_differ(tmp_path):
    """Two checkpoints, or one checkpoint into two results files (an eval plan may run them side by side),
    never share AutoAttack's resume file."""
    out = tmp_path / "full" / "a.json"
    ckpt = tmp_path / "run-a" / "checkpoints" / "best.pt"
    first = aa_state_path(out, ckpt, "standard", 0.1, 200)
    second = aa_state_path(out, tmp_path / "run-b" / "checkpoints" / "best.pt", "standard", 0.1, 200)
    third = aa_state_path(out.with_name("b.json"), ckpt, "standard", 0.1, 200)
    assert first.parent == second.parent == third.parent == out.parent and len({first, second, third}) == 3


def test_blocks_make_shards_equal_to_one_process():
    model, (x, y) = trained(), _data()
    idx = torch.arange(len(y))
    full, _ = autoattack_correct(model, x, y, EPS, attacks=["apgd-ce"], block=10, progress=False)
    a, _ = autoattack_correct(model, x[:20], y[:20], EPS, attacks=["apgd-ce"], block=10, indices=idx[:20],
                              progress=False)
    b, _ = autoattack_correct(model, x[20:], y[20:], EPS, attacks=["apgd-ce"], block=10, indices=idx[20:],
                              progress=False)
    assert torch.equal(torch.cat([a, b]), full)
