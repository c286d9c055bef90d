"""Zone names and the embedded static table: offline validation, suggestions, known values."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest

import carbon_magic.intensity as intensity
from carbon_magic.intensity import normalize_zone, parse_zone
from carbon_magic.intensity.static import DATA_DIR, static_value, tables

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def test_public_names_are_pinned():
    assert set(intensity.__all__) == {"IntensityValue", "Interval", "ProviderError", "Zone", "normalize_zone",
                                      "parse_zone", "make_service"}
    for name in intensity.__all__:
        assert hasattr(intensity, name)


def test_importing_the_package_touches_no_network_library():
    code = "import sys, carbon_magic, carbon_magic.intensity; print('requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("typed, canonical", [
    ("FR", "FR"), ("fr", "FR"), ("FRA", "FR"), (" de ", "DE"), ("UK", "GB"), ("gbr", "GB"),
    ("NA", "NA"),  # Namibia: the string "NA" is a country, not a missing value
    ("us-mida-pjm", "US-MIDA-PJM"), ("DK-DK1", "DK-DK1"), ("GB-NIR", "GB-NIR"),
    ("uk:13", "uk:london"), ("uk:London", "uk:london"), ("uk:north-west-england", "uk:north-west-england"),
    ("uk:3", "uk:north-west-england"), ("uk:rg10", "uk:RG10"), ("uk:SW1A", "uk:SW1A"),
    ("aws:us-east-1", "aws:us-east-1"), ("AWS:US-EAST-1", "aws:us-east-1"),
    ("gcp:europe-west1", "gcp:europe-west1"), ("azure:westeurope", "azure:westeurope"),
    ("watttime:caiso_north", "watttime:CAISO_NORTH"), ("world", "WLD"), ("WLD", "WLD"),
    ('"FR"', "FR"),
])
def test_normalize_accepts_every_documented_form(typed, canonical):
    assert normalize_zone(typed) == canonical
    assert normalize_zone(canonical) == canonical  # idempotent


@pytest.mark.parametrize("typed, suggestion", [
    ("FRR", "FR"), ("france", "FR (France)"), ("germny", "DE (Germany)"),
    ("US-MIDA-PJN", "US-MIDA-PJM"), ("aws:us-east-7", "aws:us-east-1"), ("gcp:europe-west99", "gcp:europe-west"),
    ("uk:londn", "uk:london"), ("gpc:europe-west1", "gcp:europe-west1"), ("azure:westeurop", "azure:westeurope"),
])
def test_unknown_zone_is_one_line_with_the_closest_names(typed, suggestion):
    with pytest.raises(ValueError) as e:
        normalize_zone(typed)
    msg = str(e.value)
    assert "\n" not in msg and typed.split(":")[-1] in msg and suggestion in msg


def test_full_postcode_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="outward part"):
        normalize_zone("uk:RG10 9XX")


def test_zone_kinds_carry_what_the_providers_need():
    assert parse_zone("uk:13").uk_region == 13 and parse_zone("uk:13").em_zone == "GB"
    assert parse_zone("uk:RG10").uk_postcode == "RG10"
    assert parse_zone("US-MIDA-PJM").country == "US" and parse_zone("US-MIDA-PJM").scope == "em"
    assert parse_zone("FR").scope == "country" and parse_zone("FR").em_zone == "FR"
    assert parse_zone("aws:us-east-1").cloud == ("aws", "us-east-1")
    assert parse_zone("GB").in_gb and not parse_zone("GB-NIR").in_gb


# -- the static table --------------------------------------------------------------------
def test_known_static_values():
    fr = static_value(parse_zone("FR"))
    assert 44 <= fr.value_g_per_kwh <= 56
    assert fr.provenance["kind"] == "static" and fr.provenance["year"] == 2024
    assert "Our World in Data" in fr.provenance["source"] and fr.provenance["emission_factor"] == "lifecycle"
    assert static_value(parse_zone("aws:us-east-1")).value_g_per_kwh == pytest.approx(379.069)
    world = static_value(None)
    assert world.value_g_per_kwh == pytest.approx(458.29)
    assert world.provenance["zone"] is None and "no zone" in world.provenance["flag"]


def test_cloud_regions_carry_the_published_figures():
    # Google's region-carbon-info 2024 and the AWS/Azure figures as given in
    # ../shared/data/cloud_region_intensity.csv (sources and licences in that file and ATTRIBUTION.md).
    assert static_value(parse_zone("gcp:europe-west1")).value_g_per_kwh == pytest.approx(103.37)
    assert static_value(parse_zone("gcp:africa-south1")).value_g_per_kwh == pytest.approx(656.85)
    assert static_value(parse_zone("aws:us-east-1")).value_g_per_kwh == pytest.approx(379.069)


@pytest.mark.skipif(not (SHARED_DATA / "cloud_region_intensity.csv").exists(),
                    reason="../shared/data is not beside this checkout")
def test_every_cloud_region_matches_the_shared_table():
    with open(SHARED_DATA / "cloud_region_intensity.csv", newline="") as f:
        shared = [(r["provider"], r["region"], float(r["g_co2e_per_kwh"])) for r in csv.DictReader(f)]
    assert len(shared) > 100
    for provider, region, value in shared:
        assert static_value(parse_zone(f"{provider}:{region}")).value_g_per_kwh == pytest.approx(value), region


def test_subzone_falls_back_to_its_country_average_and_says_so():
    pjm = static_value(parse_zone("US-MIDA-PJM"))
    us = static_value(parse_zone("US"))
    assert pjm.value_g_per_kwh == us.value_g_per_kwh
    assert pjm.provenance["zone"] == "US-MIDA-PJM" and "US" in pjm.provenance["flag"]
    assert "flag" not in us.provenance
    london = static_value(parse_zone("uk:london"))
    assert london.value_g_per_kwh == static_value(parse_zone("GB")).value_g_per_kwh
    assert "uk:london" in london.provenance["flag"]


def test_zone_without_a_country_figure_gets_the_flagged_world_average():
    andorra = static_value(parse_zone("AD"))  # an Electricity Maps zone with no OWID row
    assert andorra.value_g_per_kwh == pytest.approx(458.29)
    assert "world average" in andorra.provenance["flag"]


def test_every_static_row_names_source_year_basis_and_licence():
    t = tables()
    assert len([k for k in t.static if k[0] == "country"]) == 214
    assert {s for s, _ in t.static} == {"world", "country", "aws", "gcp", "azure"}
    for row in t.static.values():
        assert row.source and row.licence in ("CC BY 4.0", "Apache-2.0")
        assert row.emission_factor in ("lifecycle", "direct")
        assert 0 <= row.g_co2e_per_kwh < 2000
    assert len(t.uk_regions) == 17 and len(t.em_zones) == 379
    assert (DATA_DIR / "ATTRIBUTION.md").read_text().count("CC BY 4.0") >= 2


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data is not beside this checkout")
def test_embedded_tables_are_a_rebuild_of_the_shared_data(tmp_path):
    script = ROOT / "scripts" / "build_intensity_table.py"
    subprocess.run([sys.executable, str(script), str(SHARED_DATA), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("static_intensity.csv", "zones.csv"):
        assert (tmp_path / name).read_text() == (DATA_DIR / name).read_text(), name
    check = subprocess.run([sys.executable, str(script), str(SHARED_DATA), "--check"], capture_output=True)
    assert check.returncode == 0
