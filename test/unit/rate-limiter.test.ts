import t from 'tap';
import { RateLimiter } from '@ferry/agent-source';

t.test('the long-run rate equals the limit', async (t) => {
  let now = 0;
  const limiter = new RateLimiter(1_000_000, { now: () => now });
  let sent = 0;
  // Send 1 MiB messages as fast as allowed for 10 simulated seconds.
  while (now < 10_000) {
    const wait = limiter.take(1 << 20);
    now += wait;
    sent += 1 << 20;
  }
  const rate = sent / (now / 1000);
  t.ok(Math.abs(rate - 1_000_000) / 1_000_000 < 0.05, `rate ${Math.round(rate)} B/s within 5% of 1 MB/s`);
});

t.test('idle time earns at most the burst', async (t) => {
  let now = 0;
  const limiter = new RateLimiter(1_000_000, { now: () => now, burstBytes: 50_000 });
  now = 60_000; // a minute idle
  t.equal(limiter.take(50_000), 0, 'the burst is free');
  t.ok(limiter.take(100_000) >= 99, 'the rest waits for the rate');
});

t.test('rejects a non-positive rate', async (t) => {
  t.throws(() => new RateLimiter(0), RangeError);
});
