import t from 'tap';
import {
  FULL_SPEED, nextThrottle, THROTTLE_INCREMENT, THROTTLE_INITIAL, THROTTLE_MAX, type PassRecord, type ThrottleState,
} from '@ferry/agent-source';

/** Passes from wire bytes; pass 0 is the whole image. */
function history(bytes: readonly number[]): PassRecord[] {
  return bytes.map((bytesSent, pass) => ({ pass, dirtyPages: Math.ceil(bytesSent / 4096), bytesSent, durationMs: 1000, bandwidth: bytesSent }));
}

/** Replays pass ends (none converged) and returns the level after each. */
function passEnds(bytes: readonly number[], start: ThrottleState = FULL_SPEED): number[] {
  const passes = history(bytes);
  const levels: number[] = [];
  let state = start;
  for (let n = 1; n <= passes.length; n++) {
    state = nextThrottle(state, { kind: 'pass-end', history: passes.slice(0, n), converged: false });
    levels.push(state.level);
  }
  return levels;
}

t.test('a converging workload is never throttled', async (t) => {
  t.same(passEnds([100e6, 40e6, 15e6, 6e6, 2e6]), [0, 0, 0, 0, 0], 'each pass sends under half of the one before');
});

t.test("QEMU's trigger: two high periods in a row, then 20%, +10% per two more, at most 99%", async (t) => {
  const flat = [116e6, ...Array.from({ length: 24 }, () => 116e6)];
  const levels = passEnds(flat);
  t.same(levels.slice(0, 7), [0, 0, THROTTLE_INITIAL, THROTTLE_INITIAL, THROTTLE_INITIAL + THROTTLE_INCREMENT, THROTTLE_INITIAL + THROTTLE_INCREMENT, 40]);
  t.equal(Math.max(...levels), THROTTLE_MAX, 'it tops out at 99%');
  t.same(passEnds([100e6, 60e6, 20e6, 15e6]), [0, 0, 0, 0], 'one high pass alone is not a trigger');
});

t.test('inside a long pass, each period counts: the newest verdict stands', async (t) => {
  const passes = history([116e6, 116e6]);
  let state = nextThrottle(FULL_SPEED, { kind: 'pass-end', history: passes, converged: false });
  t.same([state.level, state.strikes, state.high], [0, 1, true], 'pass 1 was high: one strike');
  state = nextThrottle(state, { kind: 'period', history: passes, passBytes: 1e6 });
  t.equal(state.level, THROTTLE_INITIAL, 'the next period is still high: step');
  for (let i = 0; i < 4; i++) state = nextThrottle(state, { kind: 'period', history: passes, passBytes: 2e6 + i });
  t.equal(state.level, THROTTLE_INITIAL + 2 * THROTTLE_INCREMENT, 'a step per two periods');
  for (let i = 0; i < 40; i++) state = nextThrottle(state, { kind: 'period', history: passes, passBytes: 2e6 + i });
  t.equal(state.level, THROTTLE_MAX, 'never above 99%');
});

t.test('a running pass that already sent over half of the last one is high, whatever the last verdict', async (t) => {
  const passes = history([100e6, 10e6]);
  let state = nextThrottle(FULL_SPEED, { kind: 'pass-end', history: passes, converged: false });
  t.equal(state.high, false, 'pass 1 sent 10% of pass 0');
  state = nextThrottle(state, { kind: 'period', history: passes, passBytes: 4e6 });
  t.same([state.level, state.strikes], [0, 0], '4 MB of 10 MB so far: not high yet');
  state = nextThrottle(state, { kind: 'period', history: passes, passBytes: 6e6 });
  state = nextThrottle(state, { kind: 'period', history: passes, passBytes: 7e6 });
  t.equal(state.level, THROTTLE_INITIAL, 'over half: two high periods, one step');
  t.match(state.reason, /already sent 70% of pass 1/);
  t.same(nextThrottle(FULL_SPEED, { kind: 'period', history: [], passBytes: 1e9 }), FULL_SPEED, 'pass 0 has nothing to compare with');
});

t.test('a converged pass lets the workload go one step; below the first step, full speed', async (t) => {
  const passes = history([116e6, 116e6, 2e6]);
  const at = (level: number): ThrottleState => ({ level, strikes: 1, high: true, reason: 'test' });
  t.equal(nextThrottle(at(50), { kind: 'pass-end', history: passes, converged: true }).level, 50 - THROTTLE_INCREMENT);
  t.equal(nextThrottle(at(THROTTLE_INITIAL), { kind: 'pass-end', history: passes, converged: true }).level, 0);
  const relaxed = nextThrottle(at(50), { kind: 'pass-end', history: passes, converged: true });
  t.same([relaxed.strikes, relaxed.high], [0, false], 'the verdict is no longer high, so periods do not step it back up');
  t.equal(nextThrottle(relaxed, { kind: 'period', history: passes, passBytes: 0 }).level, 40);
});
