import t from 'tap';
import { ErrorCode, MessageType } from '@ferry/protocol';
import { BEFORE_FIRST_PASS, checkAccepted, nextPassOrder, step, survivesDisconnect, type TargetPhase } from '@ferry/agent-target';

const nextPhase = (phase: TargetPhase, type: number, allVerified: boolean): TargetPhase => step(phase, { kind: 'message', type, allVerified });

const M = MessageType;
const PHASES: readonly TargetPhase[] = ['precopy', 'paused', 'verified', 'commit-ready', 'committing', 'committed', 'failed'];
/** Every message type, including Invalid and a number past the last one. */
const TYPES = [...Object.values(MessageType), 19, 255];

/** What each phase accepts, written out independently of the implementation's table. */
const ACCEPTED: Record<TargetPhase, readonly number[]> = {
  precopy: [M.PassBegin, M.Pages, M.PassEnd, M.Paused, M.Abort],
  paused: [M.PassBegin, M.Pages, M.PassEnd, M.State, M.StateChunk, M.StateEnd, M.Verify, M.Abort],
  verified: [M.Abort],
  'commit-ready': [M.Go, M.Abort],
  committing: [],
  committed: [],
  failed: [],
};

const name = (type: number) => Object.entries(MessageType).find(([, v]) => v === type)?.[0] ?? `unknown(${type})`;

t.test('each phase accepts exactly its messages', async (t) => {
  for (const phase of PHASES) {
    for (const type of TYPES) {
      if (ACCEPTED[phase].includes(type)) {
        t.doesNotThrow(() => checkAccepted(phase, type), `${phase} accepts ${name(type)}`);
      } else {
        const hint = phase === 'verified' && type === M.Go ? ' (GO before COMMIT_READY)' : '';
        t.throws(() => checkAccepted(phase, type), {
          name: 'FerryError',
          code: ErrorCode.UnexpectedMessage,
          message: `${name(type)} is not expected in phase ${phase}${hint}`,
        }, `${phase} rejects ${name(type)}`);
      }
    }
  }
});

t.test('handshake and resume messages are never accepted mid-migration', async (t) => {
  for (const phase of PHASES) {
    for (const type of [M.Hello, M.Welcome, M.Ack, M.VerifyResult, M.CommitReady, M.Resumed, M.Error, M.PageTable]) {
      t.throws(() => nextPhase(phase, type, true), { code: ErrorCode.UnexpectedMessage }, `${phase}: ${name(type)}`);
    }
  }
});

t.test('the happy path: precopy -> paused -> commit-ready -> committing', async (t) => {
  let phase: TargetPhase = 'precopy';
  for (const type of [M.PassBegin, M.Pages, M.Pages, M.PassEnd, M.PassBegin, M.Pages, M.PassEnd]) {
    phase = nextPhase(phase, type, false);
    t.equal(phase, 'precopy', `${name(type)} keeps precopy`);
  }
  t.equal(phase = nextPhase(phase, M.Paused, false), 'paused');
  for (const type of [M.PassBegin, M.Pages, M.PassEnd, M.State, M.StateChunk, M.StateChunk, M.StateEnd]) {
    phase = nextPhase(phase, type, false);
    t.equal(phase, 'paused', `${name(type)} keeps paused`);
  }
  t.equal(phase = nextPhase(phase, M.Verify, false), 'paused', 'VERIFY with an image still unverified stays paused');
  t.equal(phase = nextPhase(phase, M.Verify, true), 'verified', 'VERIFY that completes verification');
  t.throws(() => nextPhase(phase, M.Go, true), { code: ErrorCode.UnexpectedMessage }, 'GO before COMMIT_READY was sent');
  t.equal(phase = step(phase, { kind: 'commit-ready-sent' }), 'commit-ready', 'COMMIT_READY sent');
  t.equal(phase = nextPhase(phase, M.Go, true), 'committing');
  t.throws(() => nextPhase(phase, M.Abort, true), { code: ErrorCode.UnexpectedMessage }, 'no ABORT after GO');
});

t.test('allVerified matters only for VERIFY in paused', async (t) => {
  for (const type of [M.PassBegin, M.Pages, M.PassEnd, M.State, M.StateChunk, M.StateEnd]) {
    t.equal(nextPhase('paused', type, true), 'paused', `${name(type)} with allVerified stays paused`);
  }
  for (const type of [M.PassBegin, M.Pages, M.PassEnd]) {
    t.equal(nextPhase('precopy', type, true), 'precopy', `${name(type)} with allVerified stays precopy`);
  }
  t.throws(() => nextPhase('precopy', M.Verify, true), { code: ErrorCode.UnexpectedMessage }, 'VERIFY before PAUSED');
  t.throws(() => nextPhase('precopy', M.Go, true), { code: ErrorCode.UnexpectedMessage }, 'GO before commit-ready');
  t.throws(() => nextPhase('paused', M.Go, true), { code: ErrorCode.UnexpectedMessage }, 'GO before verification');
  t.throws(() => nextPhase('paused', M.Paused, true), { code: ErrorCode.UnexpectedMessage }, 'PAUSED twice');
  t.throws(() => nextPhase('commit-ready', M.Verify, true), { code: ErrorCode.UnexpectedMessage }, 'VERIFY after commit-ready');
  t.throws(() => nextPhase('commit-ready', M.Pages, true), { code: ErrorCode.UnexpectedMessage }, 'PAGES after commit-ready');
});

t.test('ABORT fails the migration from every phase before GO, and nowhere after', async (t) => {
  for (const phase of ['precopy', 'paused', 'verified', 'commit-ready'] as const) {
    t.equal(nextPhase(phase, M.Abort, false), 'failed', `${phase} -> failed`);
    t.equal(nextPhase(phase, M.Abort, true), 'failed', `${phase} -> failed (all verified)`);
  }
  for (const phase of ['committing', 'committed', 'failed'] as const) {
    t.throws(() => nextPhase(phase, M.Abort, false), { code: ErrorCode.UnexpectedMessage }, `${phase} rejects ABORT`);
  }
});

t.test('only precopy survives a lost connection', async (t) => {
  for (const phase of PHASES) t.equal(survivesDisconnect(phase), phase === 'precopy', phase);
});

t.test('pass order: passes move forward, PAGES and PASS_END belong to the open pass, PAUSED comes between passes', async (t) => {
  const run = (messages: Array<{ type: number; pass?: number }>) => messages.reduce(nextPassOrder, BEFORE_FIRST_PASS);
  const begin = (pass: number) => ({ type: M.PassBegin, pass });
  const pages = (pass: number) => ({ type: M.Pages, pass });
  const end = (pass: number) => ({ type: M.PassEnd, pass });
  const paused = { type: M.Paused };
  t.same(run([begin(0), pages(0), end(0), begin(1), pages(1), end(1), paused, begin(2), pages(2), { type: M.State }, end(2), { type: M.Verify }, begin(3), end(3)]), { pass: 3, open: false }, 'a migration with a verify re-send');
  t.same(run([begin(0), pages(0), begin(1), pages(1), end(1), paused]), { pass: 1, open: false }, 'a resumed source starts the cut pass over under the next number');
  const refused = (messages: Array<{ type: number; pass?: number }>, message: RegExp, what: string) =>
    t.throws(() => run(messages), { code: ErrorCode.UnexpectedMessage, message }, what);
  refused([pages(0)], /PAGES of pass 0 before its PASS_BEGIN \(before the first pass\)/, 'pages before any pass');
  refused([begin(0), pages(1)], /PAGES of pass 1 before its PASS_BEGIN \(in pass 0\)/, 'pages of a future pass');
  refused([begin(0), end(0), pages(0)], /PAGES of pass 0 after its PASS_END/, 'pages of a closed pass');
  refused([begin(0), end(0), begin(1), pages(0)], /PAGES of pass 0 in pass 1: that pass is over/, 'pages of an old pass');
  refused([begin(0), end(1)], /PASS_END of pass 1 before its PASS_BEGIN/, 'the end of another pass');
  refused([begin(0), pages(0), paused], /PAUSED before PASS_END of pass 0/, 'a pause in the middle of a pass');
  refused([begin(1), end(1), begin(1)], /PASS_BEGIN of pass 1 in pass 1: passes only move forward/, 'a pass begun twice');
});

t.test('what is not a message: COMMIT_READY sent, the commit done, a failure', async (t) => {
  t.equal(step('verified', { kind: 'commit-ready-sent' }), 'commit-ready');
  t.equal(step('failed', { kind: 'commit-ready-sent' }), 'failed', 'a session that failed while its files were made durable stays failed');
  t.equal(step('committing', { kind: 'committed' }), 'committed');
  for (const phase of PHASES.filter((p) => p !== 'committing')) {
    t.throws(() => step(phase, { kind: 'committed' }), /cannot commit from phase/, `no commit from ${phase}`);
  }
  for (const phase of PHASES) t.equal(step(phase, { kind: 'failed' }), 'failed', `${phase} can fail`);
});
