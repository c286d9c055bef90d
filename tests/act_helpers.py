"""Helpers for the carbon-aware tests: a clock that steps instead of waiting, recorded forecasts."""
from __future__ import annotations

from carbon_magic.intensity.provider import Interval, IntensityValue
from carbon_magic.intensity.schedule import Series


class SteppedClock:
    """A wait/pause clock on a FakeClock: waiting advances time at once (and the fake API's `now`).

    on_wait(clock) runs before each step: a test can set the skip event or raise there, as
    another thread or the user would.
    """

    def __init__(self, fake, api=None, tick_s: float = 600.0, on_wait=None):
        self.fake, self.api, self.tick_s, self.on_wait = fake, api, tick_s, on_wait
        self.waits: list[float] = []
        self.sync()

    def now(self) -> float:
        return self.fake.wall()

    def sync(self) -> None:
        if self.api is not None:
            self.api.now = self.fake.wall()

    def wait(self, event, timeout_s: float) -> bool:
        if self.on_wait is not None:
            self.on_wait(self)
        if event.is_set():
            return True
        self.waits.append(timeout_s)
        self.fake.advance(timeout_s)
        self.sync()
        return event.is_set()


def series(rows, kind: str = "forecast") -> Series:
    """(start_s, end_s, g/kWh) rows as a provider would give them."""
    return Series(Interval(a, b, IntensityValue(v, {"provider": "test", "zone": "GB", "kind": kind}))
                  for a, b, v in rows)


def hourly(t0: float, values, kind: str = "forecast") -> Series:
    return series([(t0 + 3600 * i, t0 + 3600 * (i + 1), v) for i, v in enumerate(values)], kind)


# -- a session priced by the UK API (a real server on 127.0.0.1) on a clock the test steps -------
import pytest  # noqa: E402

from carbon_magic.config import Settings  # noqa: E402
from carbon_magic.intensity import make_service  # noqa: E402
from carbon_magic.ledger import Ledger  # noqa: E402
from carbon_magic.session import CarbonSession  # noqa: E402
from carbon_magic.sources.discovery import Discovery  # noqa: E402
from carbon_magic.sources.rapl import discover_rapl  # noqa: E402
from fakes import FakeClock  # noqa: E402
from intensity_http import FakeAPI  # noqa: E402

HALF = 1800
B = 1_790_001_000 - 1_790_001_000 % HALF  # a half-hour boundary
H = 3600.0


class UK:
    def __init__(self, session, clock, api, powercap):
        self.session, self.clock, self.api, self.powercap = session, clock, api, powercap

    def __iter__(self):  # session, clock, api, powercap = uk
        return iter((self.session, self.clock, self.api, self.powercap))

    def refetch(self) -> None:
        """Fetch the zone's values now, as the service's worker would on its next refresh."""
        self.api.now = self.clock.wall()
        self.session.intensity.refresh_now(self.session.intensity.for_zone(None), wait_s=10)


@pytest.fixture
def uk_session(tmp_path, powercap):
    """Zone GB. Forecast 300 g/kWh except 100 from B+4h to B+5h; realised 310, and 120 in that hour
    (tests may set api.uk_forecast / api.uk_actual and call refetch())."""
    clock = FakeClock(t=1000.0, wall=B)
    with FakeAPI(now=clock.wall()) as api:
        api.uk_forecast = lambda s: 100.0 if B + 4 * H <= s < B + 5 * H else 300.0
        api.uk_actual = lambda s: 120.0 if B + 4 * H <= s < B + 5 * H else 310.0
        powercap.add_zone("intel-rapl:0", "package-0", 0)
        settings = Settings(zone="GB", uk_url=api.url, scope="machine")  # fake counters: bill the devices whole
        service = make_service(settings, None, wall=clock.wall, timeout_s=2.0)
        session = CarbonSession(settings, Discovery(sources=discover_rapl(powercap.root)[0]),
                                Ledger(tmp_path / "l.sqlite3"), intensity=service, clock=clock,
                                wall=clock.wall).start(thread=False)
        uk = UK(session, clock, api, powercap)
        uk.refetch()
        try:
            yield uk
        finally:
            session.close()


def run_cell(session, clock, powercap, minutes: int, joules_per_minute: float = 100.0):
    """A measured cell of `minutes`, drawing joules_per_minute from the RAPL package."""
    window = session.begin()
    for _ in range(minutes):
        clock.advance(60)
        powercap.advance("intel-rapl:0", joules_per_minute)
        session.sampler.tick()
    return session.end(window, sync=False)
