/** The live page's login limit: wrong tokens counted per address (an IPv6 /64), with bounded memory. */
import t from 'tap';
import { LoginLimiter, loginKey } from '@ferry/serve';

t.test('after N wrong tokens in a window an address waits until the window ends; others are not held up', async (t) => {
  const limiter = new LoginLimiter({ failures: 3, windowMs: 60_000, addresses: 100 });
  for (let i = 0; i < 3; i++) {
    t.equal(limiter.retryAfterMs('10.0.0.1', 1000 + i), 0, `guess ${i + 1} is looked at`);
    limiter.failed('10.0.0.1', 1000 + i);
  }
  t.equal(limiter.retryAfterMs('10.0.0.1', 2000), 59_000, 'the fourth waits for the end of the window that began with the first');
  t.equal(limiter.retryAfterMs('10.0.0.2', 2000), 0, 'another address may try');
  t.equal(limiter.retryAfterMs('::ffff:10.0.0.1', 2000), 59_000, 'the same IPv4 address mapped into IPv6 is the same address');
  t.equal(limiter.retryAfterMs('10.0.0.1', 61_000), 0, 'when the window ends, it may try again');
  limiter.failed('10.0.0.1', 61_000);
  t.equal(limiter.retryAfterMs('10.0.0.1', 61_001), 0, 'with a fresh count');
});

t.test('a right token clears the count of its address', async (t) => {
  const limiter = new LoginLimiter({ failures: 2, windowMs: 60_000, addresses: 100 });
  limiter.failed('10.0.0.1', 0);
  limiter.succeeded('10.0.0.1');
  limiter.failed('10.0.0.1', 1);
  t.equal(limiter.retryAfterMs('10.0.0.1', 2), 0);
});

t.test('an IPv6 host is counted by its /64, whatever address of it asks', async (t) => {
  t.equal(loginKey('2001:db8:0:1::5'), '2001:db8:0:1::/64');
  t.equal(loginKey('2001:0db8:0000:0001:ffff:1:2:3'), '2001:db8:0:1::/64');
  t.equal(loginKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(loginKey('::1'), '0:0:0:0::/64');
  const limiter = new LoginLimiter({ failures: 2, windowMs: 60_000, addresses: 100 });
  limiter.failed('2001:db8:0:1::5', 0);
  limiter.failed('2001:db8:0:1::6', 0);
  t.ok(limiter.retryAfterMs('2001:db8:0:1::7', 1) > 0, 'the whole /64 waits');
  t.equal(limiter.retryAfterMs('2001:db8:0:2::7', 1), 0, 'the next /64 does not');
});

t.test('a flood of addresses holds at most `addresses` windows', async (t) => {
  const limiter = new LoginLimiter({ failures: 1, windowMs: 60_000, addresses: 10 });
  for (let i = 0; i < 1000; i++) limiter.failed(`10.0.${i >> 8}.${i & 255}`, i);
  t.equal(limiter.tracked, 10);
  t.ok(limiter.retryAfterMs('10.0.3.231', 1000) > 0, 'the newest addresses are still held back');
});
