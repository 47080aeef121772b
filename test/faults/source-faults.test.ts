/**
 * Faults before the commit point: each must end with the source's rollback hook run, exit code 3, and
 * no committed file on the target. Real processes, real sockets, real files.
 */
import t, { type Test } from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { decodeMessage, encodeControl, ErrorCode, MessageType, PROTOCOL_VERSION } from '@ferry/protocol';
import { fillImage } from '@ferry/workload';
import { CutProxy } from '../helpers/cut-proxy.js';
import { runMigrate, scratchDir, startTarget, type MigrateRun } from '../helpers/ferry.js';

const SIZE = 32 * 1024 * 1024;

interface Setup { dir: string; image: string; marker: string; targetDir: string }

async function setup(t: Test): Promise<Setup> {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 5 });
  return { dir, image, marker: join(dir, 'rolled-back'), targetDir: join(dir, 'target') };
}

function migrateArgs(s: Setup, url: string, id: string, extra: string[] = []): string[] {
  return ['--to', url, '--id', id, '--image', `ram=${s.image}`, '--resume-cmd', `touch ${s.marker}`, ...extra];
}

function assertRolledBack(t: Test, s: Setup, id: string, run: MigrateRun): void {
  t.equal(run.code, 3, `migrate exits 3 (stderr: ${run.stderr.slice(-800)})`);
  t.equal(run.summary['result'], 'rolled-back');
  t.ok(existsSync(s.marker), 'the rollback hook ran');
  t.notOk(existsSync(join(s.targetDir, id, 'ram')), 'no committed image on the target');
  const manifest = join(s.targetDir, id, 'manifest.json');
  if (existsSync(manifest)) t.not(JSON.parse(readFileSync(manifest, 'utf8')).outcome, 'committed', 'manifest is not committed');
}

t.test('target killed mid-pass', async (t) => {
  const s = await setup(t);
  const target = await startTarget(t, s.targetDir);
  let killed = false;
  const run = await runMigrate(t, migrateArgs(s, target.url, 'kill-target', ['--rate-limit', '8MB/s', '--reconnect-timeout', '500ms']), (event) => {
    if (!killed && event['event'] === 'progress' && Number(event['bytesSent']) > 4e6) {
      killed = true;
      target.child.kill('SIGKILL');
    }
  });
  t.ok(killed, 'the target was killed during pass 0');
  assertRolledBack(t, s, 'kill-target', run);
});

t.test('connection cut mid-pass', async (t) => {
  const s = await setup(t);
  const target = await startTarget(t, s.targetDir, ['--resume-grace', '1']);
  const proxy = await CutProxy.start(target.url);
  t.teardown(() => proxy.close());
  const run = await runMigrate(t, migrateArgs(s, proxy.url, 'cut-precopy', ['--rate-limit', '8MB/s', '--reconnect-timeout', '0']), (event) => {
    if (proxy.cuts === 0 && event['event'] === 'progress' && Number(event['bytesSent']) > 4e6) proxy.cut();
  });
  t.equal(proxy.cuts, 1, 'the link was cut during pre-copy');
  assertRolledBack(t, s, 'cut-precopy', run);
  t.equal(await target.exited, 1, 'the target ends its --once run as not committed');
});

t.test('connection cut during the final pass', async (t) => {
  const s = await setup(t);
  const target = await startTarget(t, s.targetDir);
  const proxy = await CutProxy.start(target.url);
  t.teardown(() => proxy.close());
  // A pause hook that dirties 8 MiB of the image makes the final pass long enough to cut inside it.
  const dirty = `dd if=/dev/urandom of=${s.image} bs=1M count=8 seek=4 conv=notrunc status=none`;
  const run = await runMigrate(t, migrateArgs(s, proxy.url, 'cut-final', ['--rate-limit', '8MB/s', '--policy', 'xen', '--pause-cmd', dirty]), (event) => {
    // The final pass carries the 8 MiB the pause hook dirtied: about 1 s at 8 MB/s, so a cut as it begins
    // lands inside it.
    if (proxy.cuts === 0 && event['event'] === 'pass-begin' && event['final'] === true) proxy.cut();
  });
  t.equal(proxy.cuts, 1, 'the link was cut after the pause');
  t.notOk(run.events.some((e) => e['event'] === 'verify'), 'the cut came before verify: inside the final pass');
  assertRolledBack(t, s, 'cut-final', run);
});

t.test('target error during verify', async (t) => {
  const s = await setup(t);
  // A target that accepts everything, then fails on VERIFY the way a dying disk would.
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const message = decodeMessage(new Uint8Array(data));
      if (message.type === MessageType.Hello) ws.send(encodeControl({ type: MessageType.Welcome, version: PROTOCOL_VERSION, resumed: false, sessionSecret: 'fault-test' }));
      if (message.type === MessageType.PassEnd) ws.send(encodeControl({ type: MessageType.Ack, pass: message.pass, bytesReceived: 0, pagesApplied: 0 }));
      if (message.type === MessageType.Verify) {
        ws.send(encodeControl({ type: MessageType.Error, code: ErrorCode.Io, message: 'fsync failed: input/output error' }));
        ws.close();
      }
    });
  });
  const address = server.address();
  const url = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const run = await runMigrate(t, migrateArgs(s, url, 'verify-error', ['--pause-cmd', 'true']));
  assertRolledBack(t, s, 'verify-error', run);
  t.match(String((run.summary['error'] as Record<string, unknown> | undefined)?.['message']), /fsync failed/, 'the target\'s reason reaches the user');
});

t.test('Ctrl-C on the source', async (t) => {
  const s = await setup(t);
  const target = await startTarget(t, s.targetDir);
  let interrupted = false;
  const run = await runMigrate(t, migrateArgs(s, target.url, 'ctrl-c', ['--rate-limit', '8MB/s']), (event, child) => {
    if (!interrupted && event['event'] === 'progress' && Number(event['bytesSent']) > 2e6) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  t.ok(interrupted);
  assertRolledBack(t, s, 'ctrl-c', run);
  t.equal(await target.exited, 1, 'the target aborted the session');
});

t.test('a wrong token is refused before any page', async (t) => {
  const s = await setup(t);
  const tokenFile = join(s.dir, 'token');
  const wrongFile = join(s.dir, 'wrong');
  writeFileSync(tokenFile, 'correct-horse-battery-staple\n');
  writeFileSync(wrongFile, 'not-the-token\n');
  const target = await startTarget(t, s.targetDir, ['--token-file', tokenFile]);
  const run = await runMigrate(t, migrateArgs(s, target.url, 'bad-token', ['--token-file', wrongFile]));
  assertRolledBack(t, s, 'bad-token', run);
  t.match(String((run.summary['error'] as Record<string, unknown> | undefined)?.['message']), /HTTP 401/);
  t.notOk(existsSync(join(s.targetDir, 'bad-token')), 'nothing was created for that migration');
  target.child.kill('SIGTERM');
});
