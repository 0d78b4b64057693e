"""Each single-record rule of the model, with its message."""

import pytest
from pydantic import ValidationError

from onshore.records.model import TABLES, Bom, Company, Facility, Flow, Material, Ownership, date_bounds


def _err(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value)


def test_company_country_is_iso_alpha2() -> None:
    assert Company(id="c", name="C", country="kr").country == "KR"
    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-2"):
        Company(id="c", name="C", country="QQ")
    # XX is the one user-assigned code accepted: other or unspecified countries (trade remainders)
    assert Company(id="c", name="C", country="xx").country == "XX"
    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-2"):
        Company(id="c", name="C", country="Korea")


def test_aliases_split_on_semicolons() -> None:
    assert Company(id="c", name="C", country="CN", aliases="CATL; 宁德时代 ;").aliases == ("CATL", "宁德时代")


def test_fractions_within_zero_and_one() -> None:
    Ownership(owner="a", owned="b", equity=1.0, voting=0, debt=0.15)
    for field in ("equity", "voting", "board", "debt"):
        with pytest.raises(ValidationError, match="less than or equal to 1"):
            Ownership(owner="a", owned="b", **{field: 1.2})
        with pytest.raises(ValidationError, match="greater than or equal to 0"):
            Ownership(owner="a", owned="b", **{field: -0.1})


def test_nobody_owns_itself() -> None:
    with pytest.raises(ValidationError, match="other than the owned"):
        Ownership(owner="a", owned="a", equity=0.5)


def test_quantities_are_positive() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        Flow(supplier="a", customer="b", material="m", quantity=-5, unit="t", period="2025")
    with pytest.raises(ValidationError, match="greater than 0"):
        Bom(output="o", input="i", quantity=0)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Facility(id="f", company="c", name="F", country="US", stage="cell", capacity=-1, unit="GWh")


def test_units_are_known() -> None:
    assert Flow(supplier="a", customer="b", material="m", quantity=5, unit="t/yr", period="2025").unit == "t"
    with pytest.raises(ValidationError, match="a known unit"):
        Flow(supplier="a", customer="b", material="m", quantity=5, unit="tons", period="2025")
    with pytest.raises(ValidationError, match="a known unit"):
        Material(id="m", name="M", kind="raw", unit="lb")
    assert Bom(output="o", input="i", quantity=1, unit="kg / kWh").unit == "kg/kWh"
    with pytest.raises(ValidationError, match="ratio unit"):
        Bom(output="o", input="i", quantity=1, unit="kg")


def test_capacity_needs_a_unit() -> None:
    with pytest.raises(ValidationError, match="unit for the capacity"):
        Facility(id="f", company="c", name="F", country="US", stage="cell", capacity=5)


def test_stage_is_one_of_the_enum() -> None:
    with pytest.raises(ValidationError, match="'mine'"):
        Facility(id="f", company="c", name="F", country="US", stage="smelter")


def test_dates_and_periods() -> None:
    f = Facility(id="f", company="c", name="F", country="US", stage="cell", since="2021-06", until="2030")
    assert (f.since, f.until) == ("2021-06", "2030")
    with pytest.raises(ValidationError, match="YYYY"):
        Facility(id="f", company="c", name="F", country="US", stage="cell", since="June 2021")
    with pytest.raises(ValidationError, match="'until' on or after 'since'"):
        Facility(id="f", company="c", name="F", country="US", stage="cell", since="2022", until="2021")
    assert Flow(supplier="a", customer="b", material="m", quantity=1, unit="t", period=2025).period == "2025"
    Flow(supplier="a", customer="b", material="m", quantity=1, unit="t", period="2025-Q3")
    with pytest.raises(ValidationError, match="period"):
        Flow(supplier="a", customer="b", material="m", quantity=1, unit="t", period="25")
    assert date_bounds("2024-02") == ("2024-02-01", "2024-02-29")
    assert date_bounds("2021") == ("2021-01-01", "2021-12-31")


def test_price_needs_a_currency() -> None:
    Material(id="m", name="M", kind="raw", unit="kg", price=12.5, currency="USD", price_year=2024)
    with pytest.raises(ValidationError, match="currency"):
        Material(id="m", name="M", kind="raw", unit="kg", price=12.5)
    with pytest.raises(ValidationError, match="currency among"):
        Material(id="m", name="M", kind="raw", unit="kg", price=12.5, currency="kg")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Company(id="c", name="C", country="CN", colour="red")  # type: ignore[call-arg]


def test_tables_refer_only_to_earlier_tables() -> None:
    names = list(TABLES)
    for i, t in enumerate(TABLES.values()):
        for target in t.refs.values():
            assert names.index(target) < i, (t.name, target)
