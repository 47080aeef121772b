import t from 'tap';
import { TokenBucket, DelayLine, LinkModel, defaultQueueBound } from '@ferry/wan';

t.test('token bucket: an idle link lets the burst through, then serialises at the rate', async (t) => {
  const bucket = new TokenBucket(1_000_000, 10_000);
  t.equal(bucket.schedule(10_000, 0), 0, 'the burst leaves at once');
  t.equal(bucket.schedule(1_000, 0), 1, '1000 more bytes take 1 ms at 1 MB/s');
  t.equal(bucket.schedule(1_000, 0), 2, 'back-to-back chunks queue behind each other');
  t.equal(bucket.schedule(1_000, 100), 100, 'after idling, credit has built up again');
});

t.test('token bucket: long-run rate equals the setting whatever the chunk sizes', async (t) => {
  const bucket = new TokenBucket(8_000_000, 16_384);
  let done = 0;
  let bytes = 0;
  for (let i = 0; i < 10_000; i += 1) {
    const size = 1 + ((i * 7919) % 65_536);
    done = bucket.schedule(size, 0);
    bytes += size;
  }
  const rate = (bytes - 16_384) / (done / 1000);
  t.ok(Math.abs(rate - 8_000_000) / 8_000_000 < 0.001, `rate ${Math.round(rate)} B/s is 8 MB/s`);
});

t.test('token bucket: a chunk larger than the burst waits for the missing tokens', async (t) => {
  const bucket = new TokenBucket(1000, 100);
  t.equal(bucket.schedule(600, 0), 500);
  t.equal(bucket.schedule(100, 500), 600, 'the bucket was left empty');
});

t.test('token bucket rejects bad settings', async (t) => {
  t.throws(() => new TokenBucket(0, 10), RangeError);
  t.throws(() => new TokenBucket(Number.POSITIVE_INFINITY, 10), RangeError);
  t.throws(() => new TokenBucket(10, -1), RangeError);
});

t.test('delay line releases in order, only what is due, and counts bytes', async (t) => {
  const line = new DelayLine<string>();
  t.equal(line.nextAt(), undefined);
  line.push('a', 10, 5);
  line.push('b', 20, 5);
  line.push('c', 30, 9);
  t.equal(line.bytes, 60);
  t.same(line.takeDue(4), []);
  t.same(line.takeDue(5), ['a', 'b']);
  t.equal(line.bytes, 30);
  t.equal(line.nextAt(), 9);
  t.same(line.takeDue(100), ['c']);
  t.equal(line.length, 0);
  t.equal(line.bytes, 0);
  t.throws(() => {
    line.push('d', 1, 50);
    line.push('e', 1, 49);
  }, RangeError, 'a release time earlier than the previous one is a bug');
});

t.test('delay line stays correct across compaction', async (t) => {
  const line = new DelayLine<number>();
  for (let i = 0; i < 5000; i += 1) line.push(i, 1, i);
  const out: number[] = [];
  for (let now = 0; now < 5000; now += 7) out.push(...line.takeDue(now));
  out.push(...line.takeDue(5000));
  t.equal(out.length, 5000);
  t.ok(out.every((value, index) => value === index), 'every item once, in order');
  t.equal(line.bytes, 0);
});

t.test('link model: delay only', async (t) => {
  const link = new LinkModel({ delayMs: 40 });
  t.equal(link.schedule(1000, 0), 40);
  t.equal(link.schedule(1_000_000, 3), 43, 'no rate: size does not matter');
});

t.test('link model: serialisation then delay', async (t) => {
  const link = new LinkModel({ delayMs: 20, rateBytesPerSec: 1_000_000, burstBytes: 0 });
  t.equal(link.schedule(1000, 0), 21, '1 ms on the wire + 20 ms delay');
  t.equal(link.schedule(1000, 0), 22, 'queued behind the first chunk');
});

t.test('link model: jitter varies delay but never reorders', async (t) => {
  const draws = [0.99, 0.0, 0.5, 0.0, 1 - 1e-9];
  let i = 0;
  const link = new LinkModel({ delayMs: 20, jitterMs: 10, random: () => draws[i++ % draws.length] ?? 0.5 });
  const times = [0, 1, 2, 3, 4].map((now) => link.schedule(100, now));
  t.ok(Math.abs((times[0] ?? 0) - 29.8) < 1e-9, 'first chunk gets +9.8 ms');
  for (let k = 1; k < times.length; k += 1) t.ok((times[k] ?? 0) >= (times[k - 1] ?? 0), `release ${k} not before release ${k - 1}`);
  t.equal(times[1], times[0], 'a chunk that would overtake is held back to the previous release time');
  t.ok((times[4] ?? 0) > 33, 'large draws still add delay');
});

t.test('link model rejects negative delay and jitter', async (t) => {
  t.throws(() => new LinkModel({ delayMs: -1 }), RangeError);
  t.throws(() => new LinkModel({ delayMs: 1, jitterMs: -1 }), RangeError);
});

t.test('queue bound: bandwidth-delay product + 256 KiB, at least 1 MiB, 8 MiB without a rate', async (t) => {
  t.equal(defaultQueueBound({ delayMs: 40, rateBytesPerSec: 1_000_000 }), 1 << 20);
  t.equal(defaultQueueBound({ delayMs: 100, rateBytesPerSec: 100_000_000 }), 10_000_000 + 262_144);
  t.equal(defaultQueueBound({ delayMs: 40 }), 8 << 20);
});
