"""Settings: declared once, layered defaults -> site file -> environment -> flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from truceline.config import declared, load_settings, parse_assignment, settings_markdown
from truceline.errors import ConfigError


def test_every_setting_is_declared_with_a_description():
    infos = list(declared())
    assert {"store.url", "log.level", "gazetteer.min_population"} <= {i.key for i in infos}
    assert all(i.description for i in infos)
    assert next(i for i in infos if i.key == "gazetteer.max_distance_km").unit == "km"
    assert "TRUCELINE_DB" in next(i for i in infos if i.key == "store.url").env


def test_layers_override_in_order(tmp_path: Path):
    site = tmp_path / "site.toml"
    site.write_text(
        '[log]\nlevel = "INFO"\n[gazetteer]\nmin_population = 1000\n'
        '[store]\nurl = "sqlite:///site.db"\n'
    )
    env = {"TRUCELINE_GAZETTEER_MIN_POPULATION": "2000", "TRUCELINE_DB": "sqlite:///env.db"}
    loaded = load_settings(config_file=site, environ=env, flags={"store.url": "sqlite:///flag.db"})
    s = loaded.settings
    assert s.log.level == "INFO" and loaded.origins["log.level"] == f"file {site}"
    assert s.gazetteer.min_population == 2000
    assert loaded.origins["gazetteer.min_population"] == "env TRUCELINE_GAZETTEER_MIN_POPULATION"
    assert s.store.url == "sqlite:///flag.db" and loaded.origins["store.url"] == "flag"
    assert loaded.origins["geo.sector_length_km"] == "default"


def test_site_file_from_environment(tmp_path: Path):
    site = tmp_path / "t.toml"
    site.write_text("[geo]\nsector_length_km = 50\n")
    loaded = load_settings(environ={"TRUCELINE_CONFIG": str(site)})
    assert loaded.settings.geo.sector_length_km == 50.0 and loaded.site_file == site


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[store]\nurll = 'x'\n", re.escape("unknown setting 'store.urll'")),
        ("[store\n", "invalid TOML"),
        ("store = 3\n", "must be a table"),
    ],
)
def test_bad_site_file(tmp_path: Path, text: str, expected: str):
    site = tmp_path / "bad.toml"
    site.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_settings(config_file=site, environ={})


def test_invalid_value_names_the_setting_and_its_origin():
    with pytest.raises(
        ConfigError,
        match=r"gazetteer.min_population \(from env "
        r"TRUCELINE_GAZETTEER_MIN_POPULATION\)",
    ):
        load_settings(environ={"TRUCELINE_GAZETTEER_MIN_POPULATION": "many"})
    with pytest.raises(ConfigError, match=r"log\.level"):
        load_settings(environ={}, flags={"log.level": "LOUD"})


def test_unknown_flag_and_bad_assignment():
    with pytest.raises(ConfigError, match=r"unknown setting 'nope\.x'"):
        load_settings(environ={}, flags={"nope.x": "1"})
    with pytest.raises(ConfigError, match=r"section\.name=value"):
        parse_assignment("level")
    assert parse_assignment("log.level = INFO") == ("log.level", "INFO")


def test_configuration_reference_is_up_to_date():
    doc = Path(__file__).parents[1] / "docs" / "configuration.md"
    assert settings_markdown() in doc.read_text(), (
        "docs/configuration.md is stale: regenerate with `truceline config docs`"
    )
