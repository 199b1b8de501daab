"""LaAlO3/SrTiO3 cross-sections: the step, the intermixing and the untouched bulk."""

import numpy as np
import pytest

from stem_datasets.physics.structures import interface_slice_thickness, lao_sto_interface, snap_interface_thickness

T = snap_interface_thickness(40.0)  # 10 unit cells, 20 slices


def _plane_index(atoms):
    """Index j of the x-plane of every atom, counted within its own slice (planes move at the step)."""
    dz = atoms.info["slice_thickness"]
    slices = np.floor(atoms.positions[:, 2] / dz).astype(int)
    x = np.round(atoms.positions[:, 0], 4)
    index = np.empty(len(atoms), int)
    for s in np.unique(slices):
        here = slices == s
        index[here] = np.searchsorted(np.unique(x[here]), x[here])
    return index, slices


def _plane(atoms, j):
    """Symbols and slice indices of the cations on x-plane j."""
    index, slices = _plane_index(atoms)
    symbols = np.array(atoms.get_chemical_symbols())
    on = (index == j) & (symbols != "O")
    return symbols[on], slices[on]


def _plane_x(atoms, j, s):
    index, slices = _plane_index(atoms)
    return float(np.unique(np.round(atoms.positions[(index == j) & (slices == s), 0], 6))[0])


def test_film_has_its_own_c_and_the_cell_stays_square():
    a, c = 3.905, 3.75
    atoms = lao_sto_interface(T, step_fraction=0.5, film_c_angstrom=c)
    term = round(atoms.info["interface_x"] / atoms.info["slice_thickness"] - 0.5)
    assert atoms.cell[0, 0] == pytest.approx(atoms.cell[1, 1]) == pytest.approx(7 * a)
    assert _plane_x(atoms, term, 0) - _plane_x(atoms, term - 1, 0) == pytest.approx(a / 2)  # substrate
    assert _plane_x(atoms, term + 4, 0) - _plane_x(atoms, term + 3, 0) == pytest.approx(c / 2)  # film
    # Past the step the film starts one SrTiO3 cell out: its planes sit (a - c) further along x.
    assert _plane_x(atoms, term + 4, 19) - _plane_x(atoms, term + 4, 0) == pytest.approx(a - c)
    cubic = lao_sto_interface(T, film_c_angstrom=a)
    assert _plane_x(cubic, term + 4, 0) == pytest.approx((term + 4.5) * a / 2)


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
        assert len(atoms) == len(flat)
        if atoms.info["step_fraction"] is None:  # intermixing moves no atom
            assert np.allclose(atoms.positions, flat.positions)
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
    ({"film_c_angstrom": 4.1}, "film_c_angstrom must lie in"),
    ({"step_fraction": 0.5, "step_angle_deg": 75.0}, "step_angle_deg must lie in"),
    ({"step_fraction": 0.5, "terrace_width_angstrom": -1.0}, "terrace_width_angstrom must be a positive"),
    ({"step_fraction": 0.5, "step_y_angstrom": float("nan")}, "step_y_angstrom must be a finite"),
    ({"step_fraction": 0.5, "terrace_offset_angstrom": float("inf")}, "terrace_offset_angstrom must be a finite"),
])
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    args = {"thickness_angstrom": T, **kwargs}
    with pytest.raises(ValueError, match=message):
        lao_sto_interface(**args)


def test_slices_are_one_atomic_plane():
    assert interface_slice_thickness() == pytest.approx(3.905 / 2)
    assert snap_interface_thickness(100.0) == pytest.approx(26 * 3.905)


def test_terrace_width_and_edge_angle_confine_and_incline_the_step():
    from stem_datasets.physics.structures import lao_sto_interface, snap_interface_thickness

    t = snap_interface_thickness(40.0)
    plain = lao_sto_interface(t, step_fraction=0.5)
    same = lao_sto_interface(t, step_fraction=0.5, step_angle_deg=0.0, terrace_width_angstrom=None)
    assert plain.get_chemical_symbols() == same.get_chemical_symbols()
    narrow = lao_sto_interface(t, step_fraction=0.0, terrace_width_angstrom=2.5 * 3.905, step_y_angstrom=13.0)
    x0, symbols = narrow.info["interface_x"], np.array(narrow.get_chemical_symbols())
    film_b = (np.abs(narrow.positions[:, 0] - x0 - 3.905) < 0.5) & np.isin(symbols, ["Al", "Ti"])
    y = narrow.positions[film_b, 1]
    on = np.abs(y - 13.0) < 1.25 * 3.905
    assert np.all(symbols[film_b][on] == "Ti") and np.all(symbols[film_b][~on] == "Al")  # raised only on the terrace
    inclined = lao_sto_interface(t, step_fraction=0.5, step_angle_deg=40.0, step_y_angstrom=13.0)
    s = np.array(inclined.get_chemical_symbols())
    b = (np.abs(inclined.positions[:, 0] - x0 - 3.905) < 0.5) & np.isin(s, ["Al", "Ti"])
    first_ti = {round(yy, 1): inclined.positions[b & (s == "Ti") & np.isclose(inclined.positions[:, 1], yy), 2].min()
                for yy in np.unique(inclined.positions[b, 1])}
    ys = sorted(y for y in first_ti if abs(y - 13.0) < 8)
    assert first_ti[ys[-1]] > first_ti[ys[0]] + 3  # the edge is deeper on one side: it runs across y
