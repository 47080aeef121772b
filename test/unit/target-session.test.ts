/**
 * TargetSession through its Peer seam: no server, no process, real files and the real hasher. The state
 * machine is driven message by message and judged by what it sends and which files it leaves.
 */
import t, { type Test } from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import {
  decodeMessage, DEFAULT_LIMITS, ErrorCode, FerryError, digestToHex, encodeControl, encodePages, MessageType, PageEncoding, PROTOCOL_VERSION,
  type Hello, type Message,
} from '@ferry/protocol';
import { blockDigests, createPageHasher, tableDigest } from '@ferry/pages';
import { privatePaths, TargetSession, type CommitContext, type Peer, type Prelaunched, type SessionContext } from '@ferry/agent-target';
import { scratchDir } from '../helpers/ferry.js';
import { until } from '../helpers/wait.js';

const PAGE = 4096;
const PAGES = 16;

class RecordingPeer implements Peer {
  readonly sent: Message[] = [];
  readonly waiting: Array<() => void> = [];
  closed: number | undefined;
  async send(message: Uint8Array): Promise<void> {
    this.sent.push(decodeMessage(message));
    for (const wake of this.waiting.splice(0)) wake();
  }
  close(code: number): void {
    this.closed = code;
    for (const wake of this.waiting.splice(0)) wake();
  }
  pause(): void {}
  resume(): void {}
  /** Resolves once a message of `type` was sent (or the peer was closed). */
  async until(type: number): Promise<Message | undefined> {
    for (;;) {
      const found = this.sent.find((m) => m.type === type);
      if (found || this.closed !== undefined) return found;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }
}

async function setup(t: Test, id: string, overrides: Partial<SessionContext> = {}) {
  const hasher = await createPageHasher();
  const ends: Array<{ outcome: string; reason?: string | undefined }> = [];
  let onEnded = (): void => {};
  const ended = new Promise<void>((resolve) => { onEnded = resolve; });
  const dir = scratchDir(t);
  const ctx: SessionContext = {
    dir, privatePaths: privatePaths(dir, []), hasher, limits: DEFAULT_LIMITS, logger: pino({ level: 'silent' }), bases: {}, commitHook: undefined,
    resumeGraceMs: 0, idleTimeoutMs: 0, onEvent: () => {},
    onEnd: (_s, outcome, reason) => {
      ends.push({ outcome, reason });
      onEnded();
    },
    ...overrides,
  };
  const hello: Hello = { type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: id, resume: false, options: {}, images: [{ name: 'ram', size: PAGES * PAGE, pageSize: PAGE }] };
  const session = await TargetSession.create(hello, ctx);
  const peer = new RecordingPeer();
  session.attach(peer, false);
  const page = (i: number): Uint8Array => new Uint8Array(PAGE).fill(i + 1);
  const table = new BigUint64Array(PAGES).map((_, i) => hasher.hashPage(page(i)));
  const verify = encodeControl({
    type: MessageType.Verify, image: 0, pageCount: PAGES, digest: digestToHex(tableDigest(hasher, table)), blockPages: 4,
    blockDigests: new Uint8Array(blockDigests(hasher, table, 4).buffer),
  });
  const allPages = encodePages({ imageIndex: 0, pass: 0 }, Array.from({ length: PAGES }, (_, i) => ({ pageIndex: i, encoding: PageEncoding.Raw, payload: page(i) })));
  return { session, peer, ctx, ends, ended, verify, allPages, page };
}

t.test('the happy path: COMMIT_READY only after VERIFY, GO commits, RESUMED, files final', async (t) => {
  const { session, peer, ctx, ends, verify, allPages } = await setup(t, 'happy');
  t.match(peer.sent[0], { type: MessageType.Welcome, resumed: false, sessionSecret: String });
  for (const message of [encodeControl({ type: MessageType.PassBegin, pass: 0 }), allPages, encodeControl({ type: MessageType.PassEnd, pass: 0, pages: PAGES, bytes: PAGES * PAGE }), encodeControl({ type: MessageType.Paused }), verify]) {
    session.receive(peer, message);
  }
  t.match(await peer.until(MessageType.CommitReady), { type: MessageType.CommitReady }, 'COMMIT_READY after a matching VERIFY');
  t.equal(session.phase, 'commit-ready');
  session.receive(peer, encodeControl({ type: MessageType.Go }));
  t.match(await peer.until(MessageType.Resumed), { type: MessageType.Resumed });
  t.same(ends, [{ outcome: 'committed', reason: undefined }]);
  t.ok(existsSync(join(ctx.dir, 'happy', 'ram')), 'the image has its final name');
  t.match(JSON.parse(readFileSync(join(ctx.dir, 'happy', 'manifest.json'), 'utf8')), { outcome: 'committed', createdBy: 'ferry-target' });
});

t.test('a session exists only once its manifest is on disk, so a crash after WELCOME always leaves a folder a restart cleans', async (t) => {
  const { session, peer, ctx } = await setup(t, 'durable');
  // setup() attached the peer right after create() resolved: WELCOME went out only then.
  t.match(peer.sent[0], { type: MessageType.Welcome });
  t.match(JSON.parse(readFileSync(join(ctx.dir, 'durable', 'manifest.json'), 'utf8')), { outcome: 'receiving', createdBy: 'ferry-target', migrationId: 'durable' });
  t.ok(existsSync(join(ctx.dir, 'durable', 'ram.partial')), 'beside the partial image it describes');
  await session.fail(new FerryError(ErrorCode.Aborted, 'test over'), false);
});

t.test('GO that arrives before COMMIT_READY went out fails the session and removes the partial image', async (t) => {
  const { session, peer, ctx, ended, verify, allPages } = await setup(t, 'early');
  for (const message of [allPages, encodeControl({ type: MessageType.Paused }), verify, encodeControl({ type: MessageType.Go })]) session.receive(peer, message);
  t.match(await peer.until(MessageType.Error), { type: MessageType.Error, message: /GO before COMMIT_READY/ });
  await ended;
  t.notOk(peer.sent.some((m) => m.type === MessageType.CommitReady), 'no COMMIT_READY');
  t.notOk(existsSync(join(ctx.dir, 'early', 'ram.partial')), 'the partial image is gone');
  t.notOk(existsSync(join(ctx.dir, 'early', 'ram')), 'and nothing was committed');
});

t.test('a cut before any progress ends the session at once; messages from a replaced peer are ignored', async (t) => {
  const { session, peer, ends, ended } = await setup(t, 'cut');
  const stale = new RecordingPeer();
  session.receive(stale, encodeControl({ type: MessageType.Paused }));
  t.equal(session.phase, 'precopy', 'a message from a peer that is not attached changes nothing');
  session.detach(peer, 'test cut');
  await ended;
  t.match(ends, [{ outcome: 'failed', reason: /before sending anything/ }]);
});

/** A prelaunch that records what it was asked, and starts only when the test says so. */
function recordingPrelaunch(outcome: 'start' | 'fail' = 'start') {
  const calls: string[] = [];
  let release = (): void => {};
  const released = new Promise<void>((resolve) => { release = resolve; });
  const seen: { started?: CommitContext; resumed?: CommitContext } = {};
  const prelaunch = async (context: CommitContext): Promise<Prelaunched> => {
    seen.started = context;
    calls.push('start');
    await released;
    if (outcome === 'fail') throw new Error('QEMU exited (code 1)');
    return {
      resume: async (committed) => { seen.resumed = committed; calls.push('resume'); },
      cancel: async () => { calls.push('cancel'); },
    };
  };
  return { prelaunch, calls, release, seen };
}

const preCommit = (allPages: Uint8Array, verify: Uint8Array): Uint8Array[] => [
  encodeControl({ type: MessageType.PassBegin, pass: 0 }), allPages, encodeControl({ type: MessageType.PassEnd, pass: 0, pages: PAGES, bytes: PAGES * PAGE }),
  encodeControl({ type: MessageType.Paused }), verify,
];

t.test('after a single pass, a prelaunch starts at PAUSED on final names linked to the partials; COMMIT_READY waits for it; GO resumes it', async (t) => {
  const launch = recordingPrelaunch();
  const { session, peer, ctx, verify, allPages } = await setup(t, 'pre', { prelaunch: launch.prelaunch });
  const dir = join(ctx.dir, 'pre');
  for (const message of preCommit(allPages, verify)) session.receive(peer, message);
  await new Promise((resolve) => setImmediate(resolve));
  t.same(launch.calls, ['start'], 'started when the source paused');
  t.equal(launch.seen.started?.images['ram'], join(dir, 'ram'), 'on the final path');
  t.equal(statSync(join(dir, 'ram')).ino, statSync(join(dir, 'ram.partial')).ino, 'the final name is a link of the partial file');
  await peer.until(MessageType.VerifyResult);
  await new Promise((resolve) => setTimeout(resolve, 20)); // room for a wrong COMMIT_READY to show; the right one cannot come before release
  t.notOk(peer.sent.some((m) => m.type === MessageType.CommitReady), 'no COMMIT_READY while the process is still starting');
  launch.release();
  await peer.until(MessageType.CommitReady);
  session.receive(peer, encodeControl({ type: MessageType.Go }));
  t.match(await peer.until(MessageType.Resumed), { type: MessageType.Resumed });
  t.same(launch.calls, ['start', 'resume']);
  t.equal(launch.seen.resumed?.images['ram'], join(dir, 'ram'));
  t.ok(existsSync(join(dir, 'ram')), 'the image keeps its final name');
  t.notOk(existsSync(join(dir, 'ram.partial')), 'and has no partial name left');
  t.equal(statSync(join(dir, 'ram')).nlink, 1);
});

t.test('a second pass starts the prelaunch during pre-copy, once; PAUSED does not start it again', async (t) => {
  const launch = recordingPrelaunch();
  launch.release();
  const { session, peer, ctx, verify, allPages } = await setup(t, 'pre-early', { prelaunch: launch.prelaunch });
  const [begin0, pages0, end0] = preCommit(allPages, verify);
  for (const message of [begin0!, pages0!, end0!]) session.receive(peer, message);
  await peer.until(MessageType.Ack);
  t.same(launch.calls, [], 'nothing started during the first pass');
  session.receive(peer, encodeControl({ type: MessageType.PassBegin, pass: 1 }));
  await until(() => launch.calls.length > 0, 'the prelaunch starts');
  t.same(launch.calls, ['start'], 'started when the second pass began');
  t.equal(session.phase, 'precopy', 'still in pre-copy');
  t.equal(statSync(join(ctx.dir, 'pre-early', 'ram')).ino, statSync(join(ctx.dir, 'pre-early', 'ram.partial')).ino, 'on the final name, a link of the partial file');
  for (const message of [encodeControl({ type: MessageType.PassEnd, pass: 1, pages: 0, bytes: 0 }), encodeControl({ type: MessageType.Paused }), verify]) session.receive(peer, message);
  await peer.until(MessageType.CommitReady);
  session.receive(peer, encodeControl({ type: MessageType.Go }));
  await peer.until(MessageType.Resumed);
  t.same(launch.calls, ['start', 'resume'], 'one start, then the resume at GO');
});

t.test('ABORT after a prelaunch cancels it and leaves no final name', async (t) => {
  const launch = recordingPrelaunch();
  const { session, peer, ctx, ended, verify, allPages } = await setup(t, 'pre-abort', { prelaunch: launch.prelaunch });
  for (const message of preCommit(allPages, verify)) session.receive(peer, message);
  launch.release();
  await peer.until(MessageType.CommitReady);
  session.receive(peer, encodeControl({ type: MessageType.Abort, reason: 'test rollback' }));
  await ended;
  t.same(launch.calls, ['start', 'cancel'], 'the prelaunched process was stopped');
  t.notOk(existsSync(join(ctx.dir, 'pre-abort', 'ram')), 'no final name');
  t.notOk(existsSync(join(ctx.dir, 'pre-abort', 'ram.partial')), 'no partial image');
});

t.test('a prelaunch that fails fails the migration before GO: ERROR, no COMMIT_READY, no final name', async (t) => {
  const launch = recordingPrelaunch('fail');
  const { session, peer, ctx, ends, ended, verify, allPages } = await setup(t, 'pre-fail', { prelaunch: launch.prelaunch });
  for (const message of preCommit(allPages, verify)) session.receive(peer, message);
  launch.release();
  t.match(await peer.until(MessageType.Error), { type: MessageType.Error, message: /QEMU exited/ });
  await ended;
  t.match(ends, [{ outcome: 'failed' }]);
  t.notOk(peer.sent.some((m) => m.type === MessageType.CommitReady), 'no COMMIT_READY');
  t.notOk(existsSync(join(ctx.dir, 'pre-fail', 'ram')), 'no final name');
});

t.test('when the final names cannot be made ahead of GO, the prelaunch runs at GO instead', async (t) => {
  const launch = recordingPrelaunch();
  launch.release();
  const { session, peer, ctx, verify, allPages } = await setup(t, 'pre-late', { prelaunch: launch.prelaunch });
  writeFileSync(join(ctx.dir, 'pre-late', 'ram'), 'in the way'); // link() fails with EEXIST
  for (const message of preCommit(allPages, verify)) session.receive(peer, message);
  await peer.until(MessageType.CommitReady);
  t.same(launch.calls, [], 'nothing started before GO');
  session.receive(peer, encodeControl({ type: MessageType.Go }));
  t.match(await peer.until(MessageType.Resumed), { type: MessageType.Resumed });
  t.same(launch.calls, ['start', 'resume'], 'started and resumed at GO');
  t.equal(statSync(join(ctx.dir, 'pre-late', 'ram')).size, PAGES * PAGE, 'on the committed image');
});

t.test('a failed attempt leaves no folder behind, unless something ferry did not create is in it', async (t) => {
  const cut = await setup(t, 'gone');
  cut.session.detach(cut.peer, 'test cut');
  await cut.ended;
  t.notOk(existsSync(join(cut.ctx.dir, 'gone')), 'a session cut before any progress leaves no folder');

  const aborted = await setup(t, 'aborted');
  aborted.session.receive(aborted.peer, aborted.allPages);
  aborted.session.receive(aborted.peer, encodeControl({ type: MessageType.Abort, reason: 'test rollback' }));
  await aborted.ended;
  t.notOk(existsSync(join(aborted.ctx.dir, 'aborted')), 'nor does one the source aborted after pages arrived');

  const shared = await setup(t, 'shared');
  writeFileSync(join(shared.ctx.dir, 'shared', 'notes.txt'), 'mine\n');
  shared.session.receive(shared.peer, encodeControl({ type: MessageType.Abort, reason: 'test rollback' }));
  await shared.ended;
  t.equal(readFileSync(join(shared.ctx.dir, 'shared', 'notes.txt'), 'utf8'), 'mine\n', 'a file ferry did not create stays');
  t.match(JSON.parse(readFileSync(join(shared.ctx.dir, 'shared', 'manifest.json'), 'utf8')), { outcome: 'failed', reason: /aborted/ }, 'with a manifest that says why');
  t.notOk(existsSync(join(shared.ctx.dir, 'shared', 'ram.partial')), 'and no partial image');
});
