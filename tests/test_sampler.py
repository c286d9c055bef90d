import time
import tracemalloc


from carbon_magic.sampler import Sampler
from carbon_magic.sources.estimators import RamEstimator


def test_memory_stays_bounded_over_24_hours(clock):
    sampler = Sampler([RamEstimator(8 * 10**9)], 2.0, clock=clock, wall=clock.wall, history_s=600)
    for _ in range(500):
        clock.advance(2.0)
        sampler.tick()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(int(24 * 3600 / 2.0)):
        clock.advance(2.0)
        sampler.tick()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(sampler.fine) == 300
    assert len(sampler.coarse) == 1 + (500 * 2 + 24 * 3600) // 60
    assert grown < 2_000_000  # coarse samples only: ~1,440 small snapshots


def test_window_joins_coarse_and_fine_history(clock):
    sampler = Sampler([RamEstimator(10**9)], 1.0, clock=clock, wall=clock.wall, history_s=100, coarse_every_s=60)
    t0 = clock()
    for _ in range(600):
        clock.advance(1.0)
        sampler.tick()
    points = sampler.window(t0, clock())
    ts = [p.t for p in points]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    assert ts[0] < sampler.fine[0].t  # older part comes from the coarse history
    assert ts[-1] == sampler.fine[-2].t  # strictly inside the window


def test_a_failing_listener_does_not_stop_sampling(clock):
    sampler = Sampler([RamEstimator(10**9)], 1.0, clock=clock, wall=clock.wall)
    seen = []

    def bad(snap):
        raise RuntimeError("boom")

    sampler.add_listener(bad, 0.0)
    sampler.add_listener(seen.append, 2.0)
    for _ in range(5):
        clock.advance(1.0)
        sampler.tick()
    assert len(seen) == 3  # every 2 s: t=1, 3, 5
    assert sampler.ticks == 5


def test_thread_starts_and_stops(clock):
    sampler = Sampler([RamEstimator(10**9)], 0.01)
    sampler.start()
    assert sampler.running
    deadline = time.monotonic() + 10.0
    while sampler.ticks < 2 and time.monotonic() < deadline:  # the thread really samples
        time.sleep(0.01)
    assert sampler.ticks >= 2
    sampler.stop()
    assert not sampler.running
    stopped_at = sampler.ticks
    time.sleep(0.05)  # five intervals: a stopped thread takes no more samples
    assert sampler.ticks == stopped_at
