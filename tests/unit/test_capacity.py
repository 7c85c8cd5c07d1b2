"""domain/capacity.py's parts agree with its whole rule: ``unit_rule_broken``
with ``within_units``, ``claims`` with ``fits`` applied claim after claim."""

from hypothesis import given
from hypothesis import strategies as st

from allotment.domain import capacity

inventories = st.tuples(
    st.integers(1, 40),  # total
    st.integers(0, 10),  # reserved
    st.sampled_from([0.5, 1.0, 1.3, 1.5, 2.0, 16.0]),  # allocation_ratio
    st.integers(0, 30),  # used
    st.integers(1, 4),  # min_unit
    st.integers(1, 40),  # max_unit
    st.integers(1, 5),  # step_size
)


@given(amount=st.integers(1, 50), inv=inventories)
def test_unit_rule_broken_names_what_within_units_refuses(amount, inv):
    _total, _reserved, _ratio, _used, min_unit, max_unit, step = inv
    broken = capacity.unit_rule_broken(amount, min_unit, max_unit, step)
    assert (broken is None) == capacity.within_units(
        amount, min_unit, max_unit, step
    )
    if broken == "min_unit":
        assert amount < min_unit
    elif broken == "max_unit":
        assert amount > max_unit
    elif broken == "step_size":
        assert amount % step


@given(amount=st.integers(1, 50), inv=inventories)
def test_claims_is_fits_claim_after_claim(amount, inv):
    total, reserved, ratio, used, min_unit, max_unit, step = inv
    cap = capacity.capacity(total, reserved, ratio)
    expected = 0
    while capacity.fits(
        amount, cap, used + expected * amount, min_unit, max_unit, step
    ):
        expected += 1
    assert (
        capacity.claims(amount, cap, used, min_unit, max_unit, step)
        == expected
    )


def test_free_and_headroom():
    cap = capacity.capacity(10, 1, 1.5)  # 13.5
    assert capacity.free(cap, 4) == 9
    assert capacity.headroom(cap, 4, 5) == 5
    assert capacity.unit_rule_broken(6, 1, 5, 1) == "max_unit"
    assert capacity.unit_rule_broken(3, 1, 8, 2) == "step_size"
    assert capacity.unit_rule_broken(1, 2, 8, 1) == "min_unit"
