"""Loading agreements: every broken case gives one clear line naming the problem, exit code 2."""

from __future__ import annotations

import pytest
import shapely

from tests.agreement.conftest import square
from truceline.agreement import RuleKind, load_agreement
from truceline.agreement.model import geodesic_area_km2
from truceline.cli import main
from truceline.errors import InputError


def check_fails(path, capsys) -> str:
    """Run `truceline agreement check PATH`; return its single error line."""
    with pytest.raises(SystemExit) as exit_info:
        main(["agreement", "check", str(path)])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_valid_agreement_loads_and_derives_the_shared_boundary(write_agreement, capsys):
    agreement = load_agreement(write_agreement())
    assert [p.id for p in agreement.parties] == ["UA", "RU"]
    assert agreement.rule("heavy-artillery").kind is RuleKind.WITHDRAWAL
    assert agreement.line_origin.startswith("derived")
    # The 32 E meridian from 47 N to 49 N is about 222.4 km long.
    assert agreement.line_length_km == pytest.approx(222.4, abs=0.5)
    with pytest.raises(SystemExit) as info:
        main(["agreement", "check", str(write_agreement())])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("ok: Test ceasefire")


def test_sides_and_distances(write_agreement):
    agreement = load_agreement(write_agreement())
    parties = agreement.party_at([31.0, 33.0, 40.0], [48.0, 48.0, 48.0])
    assert list(parties) == ["UA", "RU", ""]
    # One degree of longitude at 48 N is 74.6 km on WGS 84.
    assert agreement.distance_to_line_m(31.0, 48.0)[0] == pytest.approx(74_625, rel=1e-3)


def test_yaml_syntax_error_names_the_line(write_agreement, capsys):
    line = check_fails(write_agreement(yaml_text="name: x\nparties: [\n  {id: UA\n"), capsys)
    assert "agreement.yaml:" in line and "invalid YAML" in line


def test_geojson_syntax_error_names_the_line(write_agreement, capsys):
    line = check_fails(
        write_agreement(areas_text='{"type": "FeatureCollection",\n "features": [}'), capsys
    )
    assert "areas.geojson:2" in line and "invalid JSON" in line


def test_effective_time_without_offset(write_agreement, capsys):
    def edit(a, _):
        a["effective"] = "2026-03-01T00:00:00"

    line = check_fails(write_agreement(edit), capsys)
    assert "effective" in line and "offset" in line


def test_duplicate_party_ids(write_agreement, capsys):
    def edit(a, _):
        a["parties"].append({"id": "UA", "name": "Again"})

    assert "party id 'UA' is used more than once" in check_fails(write_agreement(edit), capsys)


def test_control_area_of_unknown_party(write_agreement, capsys):
    def edit(_, areas):
        areas["features"].append(
            {
                "type": "Feature",
                "properties": {"role": "control", "party": "XX"},
                "geometry": square(34, 47, 35, 48),
            }
        )

    line = check_fails(write_agreement(edit), capsys)
    assert "feature 3" in line and "unknown party 'XX'" in line


def test_invalid_polygon_says_why(write_agreement, capsys):
    def edit(_, areas):
        bowtie = {
            "type": "Polygon",
            "coordinates": [[[30, 47], [32, 49], [32, 47], [30, 49], [30, 47]]],
        }
        areas["features"][0]["geometry"] = bowtie

    line = check_fails(write_agreement(edit), capsys)
    assert "feature 0 (UA)" in line and "invalid polygon: Self-intersection" in line


def test_overlapping_control_areas(write_agreement, capsys):
    def edit(_, areas):
        areas["features"][1]["geometry"] = square(31.5, 47, 34, 49)

    line = check_fails(write_agreement(edit), capsys)
    assert "control areas of UA and RU overlap" in line and "km²" in line


def test_empty_line(write_agreement, capsys):
    def edit(_, areas):
        areas["features"].append(
            {
                "type": "Feature",
                "properties": {"role": "line"},
                "geometry": {"type": "LineString", "coordinates": []},
            }
        )

    assert "line is empty" in check_fails(write_agreement(edit), capsys)


def test_missing_line_without_shared_boundary(write_agreement, capsys):
    def edit(_, areas):
        areas["features"][1]["geometry"] = square(32.5, 47, 34, 49)

    assert "share no boundary" in check_fails(write_agreement(edit), capsys)


def test_unknown_rule_kind(write_agreement, capsys):
    def edit(a, _):
        a["rules"].append({"id": "no-flying", "article": "5", "kind": "no-flying"})

    line = check_fails(write_agreement(edit), capsys)
    assert "rule 'no-flying'" in line and "unknown rule kind 'no-flying'" in line


def test_rule_naming_unknown_zone(write_agreement, capsys):
    def edit(a, _):
        a["rules"][3]["zone"] = "demilitarised"

    line = check_fails(write_agreement(edit), capsys)
    assert "unknown zone 'demilitarised'" in line and "buffer-zone" in line


def test_rule_naming_unknown_weapon_class(write_agreement, capsys):
    def edit(a, _):
        a["rules"][2]["classes"] = ["artillery-100mm-plus", "railgun"]

    assert "unknown weapon class 'railgun'" in check_fails(write_agreement(edit), capsys)


def test_unknown_role_and_missing_areas_file(write_agreement, capsys):
    def edit(a, areas):
        areas["features"][2]["properties"]["role"] = "zoen"

    line = check_fails(write_agreement(edit), capsys)
    assert "feature 2" in line and "unknown role 'zoen'" in line


def test_all_problems_reported_together(write_agreement):
    def edit(a, areas):
        a["effective"] = "2026-03-01T00:00:00"
        a["rules"][0]["kind"] = "no-shooting"
        areas["features"][0]["properties"]["party"] = "XX"

    with pytest.raises(InputError) as info:
        load_agreement(write_agreement(edit))
    text = "\n".join(info.value.lines())
    assert len(info.value.problems) >= 3
    assert "offset" in text and "no-shooting" in text and "'XX'" in text


def test_derived_zone_from_the_line(write_agreement):
    def edit(a, areas):
        areas["features"].pop(2)
        a["zones"] = [{"id": "buffer-zone", "line_buffer_km": 2}]

    agreement = load_agreement(write_agreement(edit))
    zone = agreement.zones["buffer-zone"].geometry
    # 2 km each side of a 222.4 km line: about 4 km x 222.4 km.
    assert geodesic_area_km2(zone) == pytest.approx(4 * 222.4, rel=0.01)


def test_withdrawal_band_on_one_side(write_agreement):
    agreement = load_agreement(write_agreement())
    zone = agreement.withdrawal_zone("heavy-artillery", "UA")
    lon20 = 32 - 20_000 / 74_625
    lon30 = 32 - 30_000 / 74_625
    inside = [zone.contains(shapely.Point(x, 48.0)) for x in (lon20, lon30)]
    assert inside == [True, False]
    assert not zone.contains(shapely.Point(32.1, 48.0)), "the band is on UA's side only"


def test_chainage_of_the_midpoint(write_agreement):
    agreement = load_agreement(write_agreement())
    chainage = agreement.chainage_km(32.0, 48.0)[0]
    total = agreement.line_local.length / 1e3
    assert min(chainage, total - chainage) == pytest.approx(111.2, abs=0.5)
