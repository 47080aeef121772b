/**
 * The folders where QEMU's device state goes through a unix socket (QEMU before 8.2 has no `file:`
 * URI), played against a second local user (uid 65534), with both daemons started under umask 0 so the
 * sockets themselves are open to anyone: the source's state folder (the state hook runs in it, and the
 * socket QEMU writes its state to is made there) and the target's migration folder (where the target
 * QEMU makes its monitor and device-state sockets). Only ferry's user may enter either, whatever the
 * umask: the stranger can neither list them nor connect to a socket inside, while ferry's own user can.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runMigrate, scratchDir, startTarget } from '../helpers/ferry.js';
import { helloClient } from '../helpers/target-client.js';
import { MessageType } from '@ferry/protocol';

/** Run as the stranger: tries to list the folder and connect to the socket, prints each outcome. */
const ATTEMPT = `
  const { readdirSync } = require('node:fs');
  const { connect } = require('node:net');
  const [socketPath, dir] = process.argv.slice(1);
  let list = 'ok';
  try { readdirSync(dir); } catch (error) { list = error.code; }
  const socket = connect(socketPath);
  const report = (connected) => { console.log(JSON.stringify({ uid: process.getuid(), list, connect: connected })); socket.destroy(); };
  socket.once('connect', () => report('ok')).once('error', (error) => report(error.code));
`;

interface Probe { mode: string; socketMode: string; own: Outcome; stranger: Outcome }
interface Outcome { uid: number; list: string; connect: string }

/** The folder's mode, a socket listening in it (made under the current umask), and who can reach it. */
const PROBE = `
  const { execFileSync } = require('node:child_process');
  const { statSync, writeFileSync } = require('node:fs');
  const { createServer } = require('node:net');
  const { join } = require('node:path');
  const [dir, out, attemptPath] = process.argv.slice(2);
  const attempt = require('node:fs').readFileSync(attemptPath, 'utf8');
  const socketPath = join(dir, 'probe.sock');
  const as = (ids) => JSON.parse(execFileSync(process.execPath, ['-e', attempt, socketPath, dir], { ...ids, cwd: '/', env: {}, encoding: 'utf8' }));
  const server = createServer((socket) => socket.destroy()).listen(socketPath, () => {
    const mode = (path) => (statSync(path).mode & 0o777).toString(8);
    const probe = { mode: mode(dir), socketMode: mode(socketPath), own: as({}), stranger: as({ uid: 65534, gid: 65534 }) };
    writeFileSync(out, JSON.stringify(probe));
    server.close();
  });
`;

const rootOnly = { skip: process.getuid?.() === 0 ? false : 'needs root to run a child as uid 65534' };

/**
 * A scratch folder anyone may pass through, as /var/lib or /run are: what keeps the stranger out must
 * then be the folder ferry makes inside it, not the test's private scratch folder.
 */
function openScratch(t: Test): string {
  const dir = scratchDir(t);
  chmodSync(dir, 0o755);
  return dir;
}

/** Starts what `start` makes with umask 0, as a careless service manager would, and puts the umask back. */
async function underUmaskZero<T>(start: () => Promise<T>): Promise<T> {
  const previous = process.umask(0);
  try {
    return await start();
  } finally {
    process.umask(previous);
  }
}

function checkProbe(t: Test, probe: Probe, where: string): void {
  t.equal(probe.socketMode, '777', `${where}: under umask 0 the socket itself is open to anyone`);
  t.equal(probe.mode, '700', `${where}: the folder is ferry's user's alone`);
  t.same(probe.own, { uid: 0, list: 'ok', connect: 'ok' }, `${where}: ferry's user lists it and connects`);
  t.same(probe.stranger, { uid: 65534, list: 'EACCES', connect: 'EACCES' }, `${where}: a second local user can neither list it nor connect`);
}

/** The probe's arguments for a folder (node runs it; its report goes to a file in `dir`), and how to read the report. */
function probeCommand(dir: string): { args: (folder: string) => string[]; read: () => Probe } {
  const probeScript = join(dir, 'probe.cjs');
  writeFileSync(probeScript, PROBE);
  const attempt = join(dir, 'attempt.cjs');
  writeFileSync(attempt, ATTEMPT);
  const out = join(dir, 'probe.json');
  return { args: (folder) => [probeScript, folder, out, attempt], read: () => JSON.parse(readFileSync(out, 'utf8')) as Probe };
}

t.test("the source's state folder: the hook runs there, a second local user cannot reach in", rootOnly, async (t) => {
  const dir = openScratch(t);
  const image = join(dir, 'ram');
  writeFileSync(image, randomBytes(1 << 20));
  const probe = probeCommand(dir);
  const target = await startTarget(t, join(dir, 'target'));
  const command = [JSON.stringify(process.execPath), ...probe.args('"$FERRY_STATE_DIR"')].join(' ');
  const run = await underUmaskZero(() => runMigrate(t, ['--to', target.url, '--image', `ram=${image}`, '--state-dir', join(dir, 'journal'), '--state-cmd', command]));
  t.equal(run.code, 0, `committed (stderr: ${run.stderr.slice(-500)})`);
  checkProbe(t, probe.read(), 'source state folder');
});

t.test("the target's migration folder: where its QEMU makes its sockets, a second local user cannot reach in", rootOnly, async (t) => {
  const dir = openScratch(t);
  const target = await underUmaskZero(() => startTarget(t, join(dir, 'target')));
  const client = await helloClient(target.url, { id: 'folder-probe', images: [{ name: 'ram', size: 1 << 20, pageSize: 4096 }] });
  t.teardown(() => client.ws.terminate());
  t.equal((await client.next()).type, MessageType.Welcome, 'the session is open');
  // The probe makes its socket the way QEMU makes its own there: under the daemon's umask 0, so open to anyone.
  const probe = probeCommand(dir);
  await underUmaskZero(async () => execFileSync(process.execPath, probe.args(join(dir, 'target', 'folder-probe'))));
  checkProbe(t, probe.read(), 'target migration folder');
});
