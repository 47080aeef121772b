import t from 'tap';
import { Pacer } from '@ferry/agent-source';

const MiB = 1024 * 1024;
const MESSAGE = MiB;
const MIN_WINDOW = 2 * MiB + 256 * 1024;

/**
 * A simulated path in virtual time: a bottleneck that serialises messages at `rate` bytes/s behind a FIFO
 * queue, `oneWayMs` of propagation each way, and an ACK per message once its last byte arrived. The sender
 * always has a message ready (unless `scanEveryMs` says how often the scanner makes one) and sends it as
 * soon as the pacer allows.
 */
class Path {
  now = 0;
  rate: number;
  oneWayMs: number;
  #linkFreeAt = 0;
  #acks: Array<{ at: number; offset: number }> = [];
  #sent = 0;
  /** Bytes waiting in the bottleneck's queue, at its worst, since the last reset. */
  peakQueue = 0;
  delivered = 0;
  /** ACKs leave the target only on multiples of this (a busy target), 0 for at once. */
  ackEveryMs = 0;
  /** How late the sender wakes from a pacing delay (a busy host's timers). */
  timerLateMs = 0;

  constructor(rate: number, oneWayMs: number) {
    this.rate = rate;
    this.oneWayMs = oneWayMs;
  }

  run(pacer: Pacer, untilMs: number, scanEveryMs = 0): void {
    let nextScan = this.now;
    let waited = false;
    while (this.now < untilMs) {
      while (this.#acks.length > 0 && this.#acks[0]!.at <= this.now) {
        const ack = this.#acks.shift()!;
        this.delivered = ack.offset;
        pacer.acked(ack.offset);
      }
      const ready = this.now >= nextScan;
      const delay = ready ? pacer.delay(MESSAGE) : Number.POSITIVE_INFINITY;
      if (ready && delay === 0) {
        this.#send(pacer, !waited);
        waited = false;
        nextScan = this.now + scanEveryMs;
        continue;
      }
      if (ready) waited = true;
      const events = [untilMs, this.#acks[0]?.at ?? Infinity, ready ? this.now + delay + this.timerLateMs : nextScan];
      this.now = Math.max(this.now + 0.001, Math.min(...events));
    }
  }

  #send(pacer: Pacer, appLimited: boolean): void {
    this.peakQueue = Math.max(this.peakQueue, ((this.#linkFreeAt - this.now - this.oneWayMs) * this.rate) / 1000);
    pacer.sent(MESSAGE, appLimited);
    this.#sent += MESSAGE;
    // The message reaches the bottleneck after one way, waits behind the queue, then takes its own time.
    const start = Math.max(this.now + this.oneWayMs, this.#linkFreeAt);
    this.#linkFreeAt = start + (MESSAGE * 1000) / this.rate;
    const answered = this.ackEveryMs > 0 ? Math.ceil(this.#linkFreeAt / this.ackEveryMs) * this.ackEveryMs : this.#linkFreeAt;
    this.#acks.push({ at: answered + this.oneWayMs, offset: this.#sent });
  }
}

const within = (value: number | undefined, expected: number, share: number): boolean =>
  value !== undefined && Math.abs(value - expected) <= expected * share;

t.test('on a 100 Mbit/s, 40 ms path the pacer finds the rate and the round trip, and keeps the queue short', async (t) => {
  const path = new Path(12.5e6, 20);
  const pacer = new Pacer(MIN_WINDOW, () => path.now);
  path.run(pacer, 5000);
  const state = pacer.state;
  t.equal(state.mode, 'probe', 'startup found the pipe full and the pacer settled');
  t.ok(within(state.deliveryRate, 12.5e6, 0.05), `delivery rate ${state.deliveryRate} within 5% of 12.5 MB/s`);
  // The least an ACK took: 40 ms there and back, plus one message's time on the link (84 ms).
  const rtt = 40 + (MESSAGE * 1000) / 12.5e6;
  t.ok(within(state.minRttMs, rtt, 0.05), `round trip ${state.minRttMs} ms within 5% of ${rtt.toFixed(1)} ms`);
  const before = path.delivered;
  path.peakQueue = 0;
  path.run(pacer, 10_000);
  const rate = ((path.delivered - before) * 1000) / 5000;
  t.ok(rate >= 0.9 * 12.5e6, `the link stays busy: ${(rate / 1e6).toFixed(2)} MB/s delivered`);
  t.ok(path.peakQueue <= 2.5 * MiB, `the bottleneck's queue stays under 2.5 MiB (peak ${(path.peakQueue / MiB).toFixed(2)} MiB)`);
  t.ok(pacer.inFlight <= pacer.state.windowBytes, 'in flight never beyond the window');
});

t.test('without pacing the same path queues everything the sender has', async (t) => {
  // The control for the test above: a window the size of the socket buffers (what an unpaced sender has).
  const path = new Path(12.5e6, 20);
  const pacer = new Pacer(16 * MiB, () => path.now);
  path.run(pacer, 1000);
  t.ok(path.peakQueue > 10 * MiB, `the queue grows to the window (peak ${(path.peakQueue / MiB).toFixed(1)} MiB)`);
});

t.test('a link that slows down mid-transfer: the estimate follows within three seconds', async (t) => {
  const path = new Path(25e6, 10);
  const pacer = new Pacer(MIN_WINDOW, () => path.now);
  path.run(pacer, 4000);
  t.ok(within(pacer.state.deliveryRate, 25e6, 0.05), `first ${pacer.state.deliveryRate}`);
  path.rate = 5e6;
  path.run(pacer, 7000);
  t.ok(within(pacer.state.deliveryRate, 5e6, 0.1), `after the slowdown ${pacer.state.deliveryRate} within 10% of 5 MB/s`);
  path.peakQueue = 0;
  path.run(pacer, 30_000);
  t.ok(path.peakQueue <= 3 * MiB, `the queue stays short, re-measured round trips included (peak ${(path.peakQueue / MiB).toFixed(2)} MiB)`);
});

t.test('probing up finds a link that got faster', async (t) => {
  const path = new Path(5e6, 10);
  const pacer = new Pacer(MIN_WINDOW, () => path.now);
  path.run(pacer, 4000);
  t.ok(within(pacer.state.deliveryRate, 5e6, 0.05), `first ${pacer.state.deliveryRate}`);
  path.rate = 20e6;
  path.run(pacer, 12_000);
  t.ok(within(pacer.state.deliveryRate, 20e6, 0.1), `after the speed-up ${pacer.state.deliveryRate} within 10% of 20 MB/s`);
});

t.test('a longer route: the least round trip is measured again after ten seconds, with the window at its floor', async (t) => {
  const path = new Path(12.5e6, 10);
  const pacer = new Pacer(MIN_WINDOW, () => path.now);
  path.run(pacer, 3000);
  const short = pacer.state.minRttMs!;
  path.oneWayMs = 40;
  const modes = new Set<string>();
  for (let at = 3100; at <= 16_000; at += 50) {
    path.run(pacer, at);
    modes.add(pacer.state.mode);
  }
  t.ok(modes.has('probe-rtt'), `the pacer went through probe-rtt (${[...modes].join(', ')})`);
  t.ok(within(pacer.state.minRttMs, short + 60, 0.1), `round trip ${pacer.state.minRttMs} ms: the old ${short.toFixed(1)} plus 60`);
  t.ok(within(pacer.state.deliveryRate, 12.5e6, 0.05), `the rate stays ${pacer.state.deliveryRate}`);
});

t.test('timers that fire late (a busy host) do not lower the pace', async (t) => {
  const path = new Path(12.5e6, 20);
  path.timerLateMs = 25; // a third of a message's time on the link, every wait
  const pacer = new Pacer(MIN_WINDOW, () => path.now);
  path.run(pacer, 5000);
  const before = path.delivered;
  path.run(pacer, 15_000);
  const rate = ((path.delivered - before) * 1000) / 10_000;
  t.ok(rate >= 0.9 * 12.5e6, `${(rate / 1e6).toFixed(2)} MB/s delivered of 12.5`);
  t.ok(within(pacer.state.deliveryRate, 12.5e6, 0.1), `the estimate stays ${pacer.state.deliveryRate}`);
});

t.test('ACKs that arrive in bunches do not make the link look faster than it is', async (t) => {
  // A busy target answers late, then several messages at once: ACK intervals shrink, send intervals do not.
  const path = new Path(12.5e6, 20);
  path.ackEveryMs = 300;
  const pacer = new Pacer(MIN_WINDOW, () => path.now);
  path.run(pacer, 8000);
  t.ok(pacer.state.deliveryRate! <= 12.5e6 * 1.1, `estimate ${pacer.state.deliveryRate} not above the link by more than 10%`);
});

t.test('a scanner slower than the link: its samples do not drag the estimate down', async (t) => {
  const path = new Path(12.5e6, 20);
  const pacer = new Pacer(MIN_WINDOW, () => path.now);
  path.run(pacer, 4000);
  const found = pacer.state.deliveryRate!;
  path.run(pacer, 10_000, 400); // 2.5 MiB/s from the scanner, a fifth of the link
  t.ok(within(pacer.state.deliveryRate, found, 0.05), `still ${pacer.state.deliveryRate} after six app-limited seconds`);
});

t.test('before any ACK: one window, no pace; nothing in flight: a message always goes', async (t) => {
  let now = 0;
  const pacer = new Pacer(MIN_WINDOW, () => now);
  t.equal(pacer.delay(MESSAGE), 0);
  pacer.sent(MESSAGE, false);
  t.equal(pacer.delay(MESSAGE), 0, 'a second message fits the first window');
  pacer.sent(MESSAGE, false);
  t.equal(pacer.delay(MESSAGE), Number.POSITIVE_INFINITY, 'a third waits for an ACK');
  t.equal(pacer.delay(100), 0, 'a small one fits');
  now = 50;
  pacer.acked(2 * MESSAGE);
  t.equal(pacer.inFlight, 0);
  t.equal(pacer.delay(8 * MESSAGE), 0, 'nothing in flight: even a message larger than the window goes');
});

t.test('ACKs from a confused or hostile target change nothing', async (t) => {
  let now = 0;
  const pacer = new Pacer(MIN_WINDOW, () => now);
  pacer.sent(MESSAGE, false);
  now = 10;
  pacer.acked(5 * MESSAGE); // beyond what was sent
  t.equal(pacer.inFlight, MESSAGE, 'an ACK beyond what was sent is ignored');
  t.equal(pacer.state.deliveryRate, undefined);
  pacer.acked(MESSAGE / 2);
  pacer.acked(MESSAGE / 4); // backwards
  t.equal(pacer.inFlight, MESSAGE / 2, 'an ACK going backwards is ignored');
  for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) pacer.acked(bad);
  t.equal(pacer.inFlight, MESSAGE / 2, 'nor do NaN, negative or infinite offsets');
  t.throws(() => new Pacer(0), RangeError);
});
