/**
 * `ferry source` as a daemon: POST /migrations starts a migration with the migrate options as JSON,
 * GET /status reports it to the end, bad requests get a 400 that says why; `ferry status` reads either agent.
 * A request whose options contradict each other is a 400 too; one whose seams cannot be built (a --disk
 * node QEMU does not have) is reported as failed to start.
 */
import t, { type Test } from 'tap';
import { spawn, execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import { fillImage } from '@ferry/workload';
import { FERRY, scratchDir, sha256 } from '../helpers/ferry.js';
import { storageDaemon, storageDaemonMissing } from '../helpers/storage-daemon.js';

const TOKEN = 'source-daemon-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const post = { ...auth, 'content-type': 'application/json' };

/** The source daemon wants a token file that only its user can read. */
function sourceArgs(dir: string): string[] {
  const token = join(dir, 'token');
  writeFileSync(token, TOKEN, { mode: 0o600 });
  return ['source', '--listen', '127.0.0.1:0', '--token-file', token];
}

async function daemon(t: Test, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [FERRY, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as { event: string; url: string };
      if (event.event === 'listening') resolve(event.url);
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}`)));
  });
}

t.test('POST /migrations runs a migration; GET /status follows it', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, 16 * 1024 * 1024, { seed: 2 });
  const targetUrl = await daemon(t, ['target', '--listen', '127.0.0.1:0', '--dir', join(dir, 'target')]);
  const sourceUrl = await daemon(t, sourceArgs(dir));

  const bad = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: post, body: JSON.stringify({ to: targetUrl }) });
  t.equal(bad.status, 400, 'a request without an image is refused');
  t.match(await bad.json(), { error: /--image/ }, 'and the error says what is missing');

  // The daemon's /events stream says when the migration has ended: its summary event.
  const events = new WebSocket(`${sourceUrl.replace(/^http/, 'ws')}/events`, { headers: auth });
  t.teardown(() => events.terminate());
  await new Promise((resolve, reject) => events.once('open', resolve).once('error', reject));
  const ended = new Promise<Record<string, unknown>>((resolve) => {
    events.on('message', (data: Buffer) => {
      const event = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if (event['event'] === 'summary' && event['migrationId'] === 'daemon-1') resolve(event);
    });
  });
  const started = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: post, body: JSON.stringify({ to: targetUrl, image: [`ram=${image}`], id: 'daemon-1' }) });
  t.equal(started.status, 202);
  t.same(await started.json(), { migrationId: 'daemon-1' });
  t.match(await ended, { summary: { result: 'committed' } }, '/events carries the summary');
  const status = await (await fetch(`${sourceUrl}/status`, { headers: auth })).json() as { migrations: Array<{ migrationId: string; summary?: { result: string } }> };
  t.equal(status.migrations[0]?.summary?.result, 'committed', 'GET /status reports the commit');
  t.equal(await sha256(join(dir, 'target', 'daemon-1', 'ram')), await sha256(image), 'byte-identical');

  const { stdout } = await promisify(execFile)(process.execPath, [FERRY, 'status', targetUrl, '--json']);
  t.match(JSON.parse(stdout), { role: 'target', migrations: [] }, 'ferry status reads the target');
});

t.test('a disk QEMU does not have: the migration fails to start, and /status and /events say why', { skip: storageDaemonMissing() ?? false }, async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, 1024 * 1024, { seed: 3 });
  const qemu = await storageDaemon(t);
  const qmpPath = join(qemu.dir, 'qmp.sock');
  await qemu.qmp.close(); // the QMP monitor takes one client at a time: the daemon's
  const sourceUrl = await daemon(t, sourceArgs(dir));

  const noQmp = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: post, body: JSON.stringify({ to: 'ws://127.0.0.1:9', image: [`ram=${image}`], disk: ['vda=disk0'] }) });
  t.equal(noQmp.status, 400, 'a disk without qmp is refused up front');
  t.match(await noQmp.json(), { error: /--disk NAME=NODE needs --qmp/ });

  const events = new WebSocket(`${sourceUrl.replace(/^http/, 'ws')}/events`, { headers: auth });
  t.teardown(() => events.terminate());
  await new Promise((resolve, reject) => events.once('open', resolve).once('error', reject));
  const failed = new Promise<Record<string, unknown>>((resolve) => {
    events.on('message', (data: Buffer) => {
      const event = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if (event['migrationId'] === 'daemon-disk') resolve(event);
    });
  });
  const body = { to: 'ws://127.0.0.1:9', image: [`ram=${image}`], qmp: qmpPath, disk: ['vda=nope'], id: 'daemon-disk' };
  const started = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: post, body: JSON.stringify(body) });
  t.equal(started.status, 202);
  t.match(await failed, { event: 'failed-to-start', error: /--disk vda=nope: QEMU has no block device or node 'nope'.*disk0/ }, '/events says why');
  const status = await (await fetch(`${sourceUrl}/status`, { headers: auth })).json() as { migrations: Array<{ migrationId: string; error?: string }> };
  t.match(status.migrations.find((m) => m.migrationId === 'daemon-disk'), { error: /node 'nope'/ }, 'GET /status keeps the reason');
});

t.test('a request whose options contradict each other, or that the flag table does not know, gets a 400 and starts nothing', async (t) => {
  const dir = scratchDir(t);
  const sourceUrl = await daemon(t, sourceArgs(dir));
  const request = { to: 'ws://127.0.0.1:9', image: [`ram=${join(dir, 'vm.ram')}`], 'pause-cmd': 'true' };
  const refused: Array<[Record<string, unknown> | string, RegExp]> = [
    [{ ...request, cgroup: '/sys/fs/cgroup/vm', 'throttle-pid': String(process.pid), id: 'both' }, /give --cgroup or --throttle-pid, not both/],
    [{ ...request, 'keep-source': true, id: 'keep' }, /--keep-source needs --qmp/],
    [{ ...request, 'no-delta': true, 'delta-cache': '1GiB', id: 'delta' }, /give --no-delta or --delta-cache, not both/],
    [{ ...request, 'on-timeout': 'force', id: 'force' }, /--on-timeout says what happens at --timeout/],
    [{ ...request, throttle_pid: String(process.pid), id: 'typo' }, /unknown option "throttle_pid"/],
    [{ ...request, image: `ram=${join(dir, 'vm.ram')}`, id: 'one-image' }, /option "image" must be a list of strings/],
    [`{"to":"ws://127.0.0.1:9","image":["ram=/x"],"__proto__":{"cgroup":"/sys/fs/cgroup/vm"},"id":"proto"}`, /unknown option "__proto__"/],
  ];
  for (const [body, message] of refused) {
    const response = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: post, body: typeof body === 'string' ? body : JSON.stringify(body) });
    t.equal(response.status, 400, String(message));
    t.match(await response.json(), { error: message }, 'the error says why');
  }
  const status = await (await fetch(`${sourceUrl}/status`, { headers: auth })).json() as { migrations: unknown[] };
  t.same(status.migrations, [], 'no migration was started, not even as failed-to-start');
});
