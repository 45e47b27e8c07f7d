"""The gazetteer: describing places by the nearest settlement, and finding settlements by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.errors import UsageError
from truceline.geo.gazetteer import (
    Gazetteer,
    PlaceDescription,
    SettlementLookupError,
    name_key,
)
from truceline.geo.projection import (
    COMPASS_16,
    compass_point,
    destination,
    geodesic_distance_m,
)

MIN_POPULATION_TORETSK_NEAREST = 20_000  # Toretsk has 30,914 people; Zalizne (4,928) is nearer


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer()


@pytest.fixture(scope="module")
def towns() -> Gazetteer:
    """Places of 5,000 people or more within 20 km: sparse enough for empty answers."""
    return Gazetteer(min_population=5_000, max_distance_km=20.0)


def test_the_point_3_2_km_southeast_of_toretsk(gazetteer):
    toretsk = gazetteer.find("Toretsk")
    lon, lat = destination(toretsk.lon, toretsk.lat, 135.0, 3200.0)
    place = Gazetteer(min_population=MIN_POPULATION_TORETSK_NEAREST).describe(lon, lat)
    assert str(place) == "3.2 km SE of Toretsk (Donetsk oblast)"
    assert place.settlement == "Toretsk" and place.oblast == "Donetsk oblast"
    assert place.distance_km == pytest.approx(3.2, abs=1e-9)
    assert place.azimuth_deg == pytest.approx(135.0, abs=1e-9)
    assert place.compass == "SE"


def test_in_a_settlement_under_half_a_kilometre(gazetteer):
    toretsk = gazetteer.find("Toretsk")
    lon, lat = destination(toretsk.lon, toretsk.lat, 300.0, 400.0)
    assert str(gazetteer.describe(float(lon), float(lat))) == "in Toretsk (Donetsk oblast)"


def test_coordinates_when_no_settlement_is_in_range():
    place = Gazetteer(min_population=1_000_000).describe(37.8478, 48.3950)
    assert str(place) == "48.3950 N, 37.8478 E"
    assert place.settlement is None and place.distance_km is None
    assert place.oblast == "Donetsk oblast"  # the unit the place itself is in
    at_sea = Gazetteer().describe(33.0, 44.0)
    assert str(at_sea) == "44.0000 N, 33.0000 E" and at_sea.oblast is None


def test_describe_many_matches_describe(gazetteer):
    lon = np.array([37.8478, 33.0, 36.2304, 35.1396])
    lat = np.array([48.3950, 44.0, 49.9935, 47.8388])
    many = gazetteer.describe_many(lon, lat)
    assert many == [gazetteer.describe(x, y) for x, y in zip(lon, lat, strict=True)]
    assert all(isinstance(p, PlaceDescription) for p in many)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=35.0, max_value=38.5), st.floats(min_value=46.5, max_value=50.3)
        ),
        min_size=1,
        max_size=25,
    )
)
def test_description_names_the_nearest_settlement_and_leads_back_to_the_point(towns, points):
    lon, lat = np.array(points).T
    places = towns.describe_many(lon, lat)
    eligible = towns.places
    for x, y, place in zip(lon, lat, places, strict=True):
        d_all = geodesic_distance_m(x, y, eligible.lon, eligible.lat)
        nearest_m = d_all.min()
        if place.settlement is None:
            assert nearest_m > towns.max_distance_km * 1000
            continue
        assert place.distance_km * 1000 == pytest.approx(nearest_m, abs=1e-6)
        (candidates,) = np.nonzero(d_all <= nearest_m + 1e-6)
        assert place.settlement in eligible.name[candidates]
        i = candidates[eligible.name[candidates] == place.settlement][0]
        # the settlement, the azimuth and the distance lead back to the point ...
        x2, y2 = destination(
            eligible.lon[i], eligible.lat[i], place.azimuth_deg, place.distance_km * 1000
        )
        assert float(geodesic_distance_m(x, y, x2, y2)) < 1e-3
        # ... and so do the rounded figures in the text, within their rounding
        assert place.compass == compass_point(place.azimuth_deg)
        text = str(place)
        if place.distance_km >= 0.5:
            shown_km = float(text.split(" km ")[0])
            assert text.startswith(f"{shown_km:.1f} km {place.compass} of {place.settlement} (")
            x3, y3 = destination(
                eligible.lon[i],
                eligible.lat[i],
                22.5 * COMPASS_16.index(place.compass),
                shown_km * 1000,
            )
            # the distance is shown to 50 m, the direction to within 11.25 degrees either way
            bound_m = 50.0 + place.distance_km * 1000 * 2 * np.sin(np.radians(11.25 / 2))
            assert float(geodesic_distance_m(x, y, x3, y3)) <= bound_m + 1.0
        else:
            assert text.startswith(f"in {place.settlement} (")


def test_min_population_and_range_filter_the_reference_places():
    g = Gazetteer(min_population=100_000, max_distance_km=5.0)
    assert (g.places.population >= 100_000).all()
    assert g.describe(37.8478, 48.3950).settlement is None
    with pytest.raises(ValueError):
        Gazetteer(min_population=-1)
    with pytest.raises(ValueError):
        Gazetteer(max_distance_km=0)
    with pytest.raises(ValueError):
        Gazetteer(min_population=10**9)


@pytest.mark.parametrize(
    ("typed", "oblast", "geonames_name", "expected_oblast"),
    [
        ("Kupiansk", None, "Kupyansk", "Kharkiv oblast"),
        ("Kup'yans'k", None, "Kupyansk", "Kharkiv oblast"),
        ("kupiansk", "Kharkiv", "Kupyansk", "Kharkiv oblast"),
        ("Huliaipole", "Zaporizhzhia", "Hulyaypole", "Zaporizhzhia oblast"),
        ("Huliaipole", None, "Hulyaypole", "Zaporizhzhia oblast"),  # 13,446 vs a village of 1,177
        ("Gulyaypole", "Zaporizhzhia oblast", "Hulyaypole", "Zaporizhzhia oblast"),
        ("Kostiantynivka", "Donetsk", "Kostyantynivka", "Donetsk oblast"),
        ("KOSTJANTYNIVKA", "donetsk oblast", "Kostyantynivka", "Donetsk oblast"),
        ("Костянтинівка", "Donetsk", "Kostyantynivka", "Donetsk oblast"),
        ("Zaporizhzhia", None, "Zaporizhzhya", "Zaporizhzhia oblast"),
        ("Kamianka-Dniprovska", None, "Kamyanka-Dniprovska", "Zaporizhzhia oblast"),
        ("Kamyanka Dniprovska", None, "Kamyanka-Dniprovska", "Zaporizhzhia oblast"),
        ("Kyiv", None, "Kyiv", "Kyiv city"),
        ("Sloviansk", None, "Slovyansk", "Donetsk oblast"),
        ("Avdiivka", None, "Avdiyivka", "Donetsk oblast"),
        ("Artemivsk", None, "Bakhmut", "Donetsk oblast"),  # its name until 2016
        ("Dzerzhynsk", "Donetsk", "Toretsk", "Donetsk oblast"),  # likewise
        ("Торецьк", None, "Toretsk", "Donetsk oblast"),
    ],
)
def test_find_resolves_variants(gazetteer, typed, oblast, geonames_name, expected_oblast):
    found = gazetteer.find(typed, oblast)
    assert (found.name, found.oblast) == (geonames_name, expected_oblast)


def test_find_ambiguous_name_lists_the_candidates(gazetteer):
    with pytest.raises(SettlementLookupError) as caught:
        gazetteer.find("Kostiantynivka")
    message = str(caught.value)
    assert "ambiguous" in message and "give the oblast" in message
    assert "Donetsk oblast" in message and "Zaporizhzhia oblast" in message
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, UsageError)
    assert {c.oblast for c in caught.value.candidates} >= {"Donetsk oblast", "Kherson oblast"}
    assert len(gazetteer.matches("Kostiantynivka")) == len(caught.value.candidates)


def test_find_unknown_name_suggests_close_matches(gazetteer):
    with pytest.raises(KeyError) as caught:
        gazetteer.find("Kupyanskk")
    assert "no settlement 'Kupyanskk'" in str(caught.value)
    assert "close matches: Kupyansk (Kharkiv oblast" in str(caught.value)
    assert not str(caught.value).startswith('"')  # readable, not KeyError's repr
    with pytest.raises(KeyError, match="no settlement 'Xyzzyq'"):
        gazetteer.find("Xyzzyq")


def test_find_within_the_wrong_oblast_or_an_unknown_oblast(gazetteer):
    with pytest.raises(KeyError, match="no settlement 'Toretsk' in Lviv"):
        gazetteer.find("Toretsk", "Lviv")
    with pytest.raises(KeyError, match="unknown oblast 'Narnia'"):
        gazetteer.find("Toretsk", "Narnia")
    with pytest.raises(KeyError, match="empty settlement name"):
        gazetteer.find(" - ")


def test_matches_lists_every_candidate_most_populous_first(gazetteer):
    found = gazetteer.matches("Kamianske")
    assert len(found) >= 4
    assert [s.population for s in found] == sorted((s.population for s in found), reverse=True)
    assert gazetteer.matches("Kamianske", "Zaporizhzhia")[0].oblast == "Zaporizhzhia oblast"
    assert gazetteer.matches("Xyzzyq") == []


def test_name_key_folds_romanisation_variants():
    for a, b in [
        ("Kupyansk", "Kupiansk"),
        ("Hulyaypole", "Huliaipole"),
        ("Kostyantynivka", "Kostiantynivka"),
        ("Khmel'nyts'kyy", "Khmelnytskyi"),
        ("Mykolayiv", "Mykolaiv"),
        ("Zaporizhzhya", "Zaporizhzhia"),
        ("Chasiv Yar", "chasiv-yar"),
        ("Torec'k", "Toretsk"),
        ("Pokrowsk", "Pokrovsk"),
        ("Kup\u02bcjans\u02bck", "Kupiansk"),
    ]:
        assert name_key(a) == name_key(b), (a, b)
    assert name_key("Kyiv") != name_key("Kharkiv")


@given(st.text())
def test_name_key_is_idempotent(text):
    assert name_key(name_key(text)) == name_key(text)


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126)))
def test_name_key_ignores_case(text):
    assert name_key(text.upper()) == name_key(text.lower()) == name_key(text)
