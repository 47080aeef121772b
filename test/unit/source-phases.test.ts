import t from 'tap';
import { ErrorCode, FerryError } from '@ferry/protocol';
import { INITIAL_PHASE, IllegalTransition, isPastPointOfNoReturn, step, type Phase, type PhaseEvent } from '@ferry/agent-source';

const failure = new FerryError(ErrorCode.Disconnected, 'link cut');
const happyPath: PhaseEvent[] = [
  { kind: 'connected' }, { kind: 'welcomed' },
  { kind: 'pass-done', stop: false }, { kind: 'pass-done', stop: true, reason: 'xen' },
  { kind: 'paused' }, { kind: 'final-pass-done' }, { kind: 'state-sent' }, { kind: 'verified' },
  { kind: 'commit-ready' }, { kind: 'resumed' },
];

function walk(events: readonly PhaseEvent[]): Phase[] {
  const phases: Phase[] = [INITIAL_PHASE];
  for (const event of events) phases.push(step(phases.at(-1)!, event));
  return phases;
}

t.test('the happy path visits every phase in order', async (t) => {
  t.same(walk(happyPath).map((p) => p.name), [
    'connecting', 'handshake', 'precopy', 'precopy', 'pausing', 'final-pass', 'state', 'verify', 'commit-wait', 'go-sent', 'done',
  ]);
  const phases = walk(happyPath);
  t.match(phases[3], { name: 'precopy', pass: 1 });
  t.match(phases[4], { name: 'pausing', pass: 2, reason: 'xen' }, 'the final pass gets the next pass number');
});

t.test('a failure before GO rolls back; after GO the outcome is unknown', async (t) => {
  const phases = walk(happyPath);
  for (const phase of phases.slice(0, -2)) {
    const next = step(phase, { kind: 'failed', error: failure });
    t.equal(next.name, 'rollback', `failure in ${phase.name}`);
    t.notOk(isPastPointOfNoReturn(phase), `${phase.name} is before the point of no return`);
  }
  const goSent = phases.at(-2)!;
  t.equal(goSent.name, 'go-sent');
  t.match(step(goSent, { kind: 'failed', error: failure }), { name: 'unknown', error: failure });
  t.ok(isPastPointOfNoReturn(goSent));
});

t.test('terminal phases stay put on failure and reject anything else', async (t) => {
  const done = walk(happyPath).at(-1)!;
  t.equal(step(done, { kind: 'failed', error: failure }), done);
  t.throws(() => step(done, { kind: 'connected' }), IllegalTransition);
});

t.test('events out of order are illegal transitions', async (t) => {
  t.throws(() => step(INITIAL_PHASE, { kind: 'welcomed' }), IllegalTransition);
  t.throws(() => step({ name: 'precopy', pass: 3 }, { kind: 'commit-ready' }), IllegalTransition);
  t.throws(() => step({ name: 'verify' }, { kind: 'resumed' }), IllegalTransition);
});
