import math

import pytest

from onshore.records import units
from onshore.errors import UnitError


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [(1, "t", "kg", 1000), (2.5, "kt", "t", 2500), (1, "GWh", "kWh", 1e6), (500, "Wh", "kWh", 0.5),
     (3, "t/yr", "kg", 3000), (1, "MWh", "GWh", 1e-3)],
)
def test_convert_within_a_dimension(value: float, src: str, dst: str, expected: float) -> None:
    assert math.isclose(units.convert(value, src, dst), expected)


def test_conversion_across_dimensions_is_refused() -> None:
    with pytest.raises(UnitError, match="cannot convert"):
        units.convert(1, "kg", "kWh")


def test_unknown_unit_is_named() -> None:
    with pytest.raises(UnitError, match="bananas"):
        units.normalize("bananas")


def test_currency_goes_through_the_years_rate() -> None:
    # Federal Reserve G.5A: 2023 average 1306.7637 KRW and 7.0809 CNY per USD
    assert math.isclose(units.convert(1306.7637, "KRW", "USD", 2023), 1.0)
    assert math.isclose(units.convert(1, "USD", "CNY", 2023), 7.0809)
    assert math.isclose(units.convert(7.0809, "CNY", "KRW", 2023), 1306.7637)
    with pytest.raises(UnitError, match="needs a year"):
        units.convert(1, "EUR", "USD")
    with pytest.raises(UnitError, match="no EUR exchange rate for 1990"):
        units.convert(1, "EUR", "USD", 1990)


def test_ratio_units_split() -> None:
    assert units.split_ratio("kg/kWh") == ("kg", "kWh")
    with pytest.raises(UnitError):
        units.split_ratio("kg")
