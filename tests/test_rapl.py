import pytest

from carbon_magic.sources.rapl import discover_rapl


def test_packages_and_dram_by_name_without_double_counting(powercap):
    powercap.add_zone("intel-rapl:0", "package-0", 5_000_000)
    powercap.add_zone("intel-rapl:0:0", "core", 1, parent="intel-rapl:0")
    powercap.add_zone("intel-rapl:0:1", "uncore", 1, parent="intel-rapl:0")
    powercap.add_zone("intel-rapl:0:2", "dram", 7, parent="intel-rapl:0")
    powercap.add_zone("intel-rapl:1", "psys", 9)
    powercap.add_zone("intel-rapl-mmio:0", "package-0", 123)  # MMIO copy of the same package
    zones, skipped = discover_rapl(powercap.root)
    assert sorted(z.name for z in zones) == ["cpu:package-0", "dram:package-0"]
    pkg = next(z for z in zones if z.kind == "cpu")
    assert "mmio" not in str(pkg.path)
    assert skipped == []


def test_flat_layout_dram_subzone_named_after_its_package(powercap):
    powercap.add_zone("intel-rapl:0", "package-0")
    powercap.add_zone("intel-rapl:0:2", "dram")  # flat symlink-style entry at the top level
    zones, _ = discover_rapl(powercap.root)
    assert sorted(z.name for z in zones) == ["cpu:package-0", "dram:package-0"]


def test_energy_and_wraparound(powercap):
    max_range = 65_536_000_000  # an AMD-sized 65.5 kJ counter
    powercap.add_zone("intel-rapl:0", "package-0", max_range - 2_000_000, max_range_uj=max_range)
    (zone,), _ = discover_rapl(powercap.root)
    assert zone.read(0.0).energy_j == 0.0
    powercap.advance("intel-rapl:0", 1.5)
    assert zone.read(1.0).energy_j == pytest.approx(1.5)
    powercap.advance("intel-rapl:0", 3.0)  # crosses max_energy_range_uj
    assert powercap.read("intel-rapl:0") == 2_500_000  # wrapped
    r = zone.read(2.0)
    assert r.energy_j == pytest.approx(4.5)
    assert r.power_w == pytest.approx(3.0)
    assert zone.wraps == 1


def test_amd_two_sockets(powercap):
    powercap.add_zone("intel-rapl:0", "package-0")
    powercap.add_zone("intel-rapl:1", "package-1")
    zones, skipped = discover_rapl(powercap.root)
    assert [z.name for z in zones] == ["cpu:package-0", "cpu:package-1"]
    assert not skipped


def test_root_only_counter_is_skipped_with_the_fix(powercap):
    powercap.add_zone("intel-rapl:0", "package-0")

    def deny(path, mode="r"):
        if str(path).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, mode)

    zones, skipped = discover_rapl(powercap.root, opener=deny)
    assert zones == []
    (s,) = skipped
    assert "root" in s.reason and "CVE-2020-8694" in s.reason
    assert "chmod a+r" in s.fix and "%reload_ext carbon_magic" in s.fix
    assert "\n" not in s.line()


def test_missing_powercap_root(tmp_path):
    zones, (s,) = discover_rapl(tmp_path / "nope")
    assert zones == [] and "CARBON_MAGIC_POWERCAP_ROOT" in s.fix


def test_a_still_window_keeps_the_last_power_until_the_counter_has_been_still_for_a_second(powercap):
    """A counter updated in coarse steps (or by a starved writer) shows windows with no movement:
    power is not 0 W there, so a cell shorter than the counter's resolution is still priced."""
    powercap.add_zone("intel-rapl:0", "package-0", 1_000_000)
    (zone,), _ = discover_rapl(powercap.root)
    zone.read(0.0)
    powercap.advance("intel-rapl:0", 1.0)
    assert zone.read(0.2).power_w == pytest.approx(5.0)
    assert zone.read(0.35).power_w == pytest.approx(5.0)  # no movement for 0.15 s: still 5 W
    assert zone.read(0.6).power_w == pytest.approx(5.0)
    powercap.advance("intel-rapl:0", 2.0)  # the next step: the average since the last movement
    assert zone.read(0.8).power_w == pytest.approx(2.0 / 0.6)
    assert zone.read(2.0).power_w == pytest.approx(0.0)  # still for over a second: really 0 W


def test_a_gap_that_may_hide_wraps_is_priced_at_the_steady_power_not_the_last_burst(powercap):
    """A bursty counter (20 J in one 0.1 s window, nothing in the next: 100 W on average), then a
    5 s gap in which the 200 J counter wraps twice: the gap is priced at the mean power of the
    last second, not at the last window's 200 W."""
    rng = 200_000_000
    powercap.add_zone("intel-rapl:0", "package-0", 0, max_range_uj=rng, max_power_w=100)
    (zone,), _ = discover_rapl(powercap.root)
    t = 0.0
    zone.read(t)
    for i in range(20):
        t += 0.1
        if i % 2 == 0:
            powercap.advance("intel-rapl:0", 20.0)
        zone.read(t)
    before = zone.read(t).energy_j
    powercap.advance("intel-rapl:0", 500.0)  # 5 s at 100 W: two wraps and a bit
    r = zone.read(t + 5.0)
    assert zone.ambiguous == 1
    assert r.energy_j - before == pytest.approx(500.0, abs=rng / 2e6)
    assert r.uncertainty_j == pytest.approx(rng / 1e6)
