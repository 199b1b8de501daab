"""LaAlO3/SrTiO3 cross-sections: the step, the intermixing and the untouched bulk."""

import numpy as np
import pytest

from stem_datasets.structures import interface_slice_thickness, lao_sto_interface, snap_interface_thickness

T = snap_interface_thickness(40.0)  # 10 unit cells, 20 slices


def _plane(atoms, j):
    """Symbols and slice indices of the cations on x-plane j."""
    dz = atoms.info["slice_thickness"]
    x = atoms.positions[:, 0]
    cations = np.array([s != "O" for s in atoms.get_chemical_symbols()])
    on = np.isclose(x, (j + 0.5) * dz) & cations
    symbols = np.array(atoms.get_chemical_symbols())[on]
    slices = np.floor(atoms.positions[on, 2] / dz).astype(int)
    return symbols, slices


def test_step_shifts_the_interface_one_cell_at_the_stated_depth():
    atoms = lao_sto_interface(T, step_fraction=0.3)
    term = round(atoms.info["interface_x"] / atoms.info["slice_thickness"] - 0.5)
    assert atoms.info["step_slice"] == 6 and atoms.info["step_fraction"] == pytest.approx(0.3)
    for j, (film, substrate) in ((term + 1, ("La", "Sr")), (term + 2, ("Al", "Ti"))):
        symbols, slices = _plane(atoms, j)
        assert set(symbols[slices < 6]) == {film} and set(symbols[slices >= 6]) == {substrate}
    assert set(_plane(atoms, term + 3)[0]) == {"La"}  # the rest of the film stays LaAlO3
    flat = lao_sto_interface(T, step_fraction=1.0)
    out = lao_sto_interface(T, step_fraction=0.0)
    assert set(_plane(flat, term + 1)[0]) == {"La"} and set(_plane(out, term + 1)[0]) == {"Sr"}


def test_intermix_fraction_is_what_was_asked_and_placements_follow_the_seed():
    atoms = lao_sto_interface(T, intermix_fraction=0.25, seed=3)
    term = round(atoms.info["interface_x"] / atoms.info["slice_thickness"] - 0.5)
    symbols, _ = _plane(atoms, term + 2)
    assert np.mean(symbols == "Ti") == pytest.approx(0.25, abs=0.5 / len(symbols))
    assert atoms.info["intermix_fraction"] == pytest.approx(np.mean(symbols == "Ti"))
    again = lao_sto_interface(T, intermix_fraction=0.25, seed=3)
    other = lao_sto_interface(T, intermix_fraction=0.25, seed=4)
    assert again.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert other.get_chemical_symbols() != atoms.get_chemical_symbols()
    two = lao_sto_interface(T, intermix_fraction=0.5, intermix_layers=2, a_site_fraction=0.5, seed=1)
    assert np.mean(_plane(two, term + 4)[0] == "Ti") == pytest.approx(0.5, abs=0.02)
    assert np.mean(_plane(two, term + 1)[0] == "Sr") == pytest.approx(0.5, abs=0.02)


def test_stoichiometry_away_from_the_interface_is_unchanged():
    flat = lao_sto_interface(T)
    term = round(flat.info["interface_x"] / flat.info["slice_thickness"] - 0.5)
    n_planes = round(flat.cell[0, 0] / flat.info["slice_thickness"])
    for atoms in (lao_sto_interface(T, step_fraction=0.5), lao_sto_interface(T, intermix_fraction=0.4, seed=2)):
        assert len(atoms) == len(flat) and np.allclose(atoms.positions, flat.positions)
        for j in list(range(term + 1)) + list(range(term + 3, n_planes)):
            assert list(_plane(atoms, j)[0]) == list(_plane(flat, j)[0])
    symbols = flat.get_chemical_symbols()
    cells = 7 * 10
    assert symbols.count("La") == symbols.count("Al") == 3 * cells
    assert symbols.count("Ti") == 4 * cells and symbols.count("Sr") == 4 * cells
    assert symbols.count("O") == 3 * 7 * cells  # 7 ABO3 units along x: the periodic stack is stoichiometric


@pytest.mark.parametrize("kwargs, message", [
    ({"thickness_angstrom": 100.0}, "whole number of slices"),
    ({"step_fraction": 1.5}, "step_fraction must lie in"),
    ({"step_fraction": float("nan")}, "step_fraction must lie in"),
    ({"intermix_fraction": -0.1}, "intermix_fraction must lie in"),
    ({"a_site_fraction": 2.0}, "a_site_fraction must lie in"),
    ({"intermix_layers": 5}, "intermix_layers"),
])
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    args = {"thickness_angstrom": T, **kwargs}
    with pytest.raises(ValueError, match=message):
        lao_sto_interface(**args)


def test_slices_are_one_atomic_plane():
    assert interface_slice_thickness() == pytest.approx(3.905 / 2)
    assert snap_interface_thickness(100.0) == pytest.approx(26 * 3.905)
