/**
 * The FUSE view of a non-raw disk and the NBD socket of its bitmaps are files ferry creates while a
 * guest runs: another local user must not be able to aim them at a file of their choice. They live in a
 * private folder (mkdtemp, 0700) the journal records, the view is created with O_EXCL|O_NOFOLLOW, and
 * `ferry recover` removes that folder only after checking it is ferry's. The target QEMU's QMP socket,
 * when its migration folder's path is too long for a socket, goes to such a folder too. Real
 * qemu-storage-daemon and QEMU.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DiskFileView, silentLogger, startTargetQemu } from '@ferry/qemu';
import { readMigrateRequest } from '../../cli/src/migrate-options.js';
import { buildSourceDisks } from '../../cli/src/source-disks.js';
import { FERRY, scratchDir } from '../helpers/ferry.js';
import { storageDaemon, storageDaemonMissing } from '../helpers/storage-daemon.js';
import { qemuMissing } from '../helpers/qemu.js';

const missing = storageDaemonMissing() ?? (existsSync('/dev/fuse') ? undefined : 'no /dev/fuse on this machine');
const skip = missing ?? false;

t.test('a symbolic link planted where a view goes is refused, and the file it points to is untouched', { skip }, async (t) => {
  const { dir, qmp } = await storageDaemon(t, 'qcow2');
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious');
  const planted = join(dir, 'view');
  symlinkSync(victim, planted);
  await t.rejects(DiskFileView.open(qmp, { node: 'disk0', prefix: 'ferry-m-vda', path: planted, label: 'vda=disk0' }), { code: 'EEXIST' });
  t.equal(readFileSync(victim, 'utf8'), 'precious', 'the link was not followed');
});

t.test('the views of a migration live in a private folder of their own, gone after close', { skip }, async (t) => {
  const { qmp } = await storageDaemon(t, 'qcow2');
  const { plan, options } = readMigrateRequest({ to: 'ws://127.0.0.1:9', image: ['ram=/dev/null'], disk: ['vda=disk0'], qmp: 'unused', id: 'private-view' });
  const disks = await buildSourceDisks(plan.disks, options, qmp, silentLogger);
  const view = disks.options.images.find((i) => i.name === 'vda')!.path;
  const folder = dirname(view);
  t.equal(disks.diskDir, folder, 'the folder is what the journal records');
  t.equal(dirname(folder), tmpdir());
  t.match(basename(folder), /^ferry-disks-/);
  const stats = statSync(folder);
  t.equal(stats.mode & 0o777, 0o700, 'only its user may enter it');
  t.equal(stats.uid, process.getuid!());
  await disks.close();
  t.notOk(existsSync(folder), 'close() removes the folder');
});

function recover(stateDir: string): Promise<{ code: number | null; text: string }> {
  const child = spawn(process.execPath, [FERRY, 'recover', '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
  child.stderr.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, text })));
}

t.test('recover removes the private folder a killed migration left, and nothing it cannot prove is ferry\'s', { skip }, async (t) => {
  const { dir, qmp } = await storageDaemon(t, 'qcow2');
  await qmp.close(); // the daemon's monitor serves one client: recover's
  const qmpPath = join(dir, 'qmp.sock');
  const plant = (stateDir: string, id: string, diskDir: string): void => {
    mkdirSync(join(stateDir, id), { recursive: true, mode: 0o700 });
    writeFileSync(join(stateDir, id, 'journal.json'), JSON.stringify({
      migrationId: id, pid: Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1, target: 'ws://127.0.0.1:9', phase: 'precopy', paused: false, goSent: false,
      recovery: { qmp: qmpPath, disks: ['vda'], diskDir, hookTimeoutMs: 10_000 }, updatedAt: new Date().toISOString(),
    }), { mode: 0o600 });
  };
  const own = await mkdtemp(join(tmpdir(), 'ferry-disks-'));
  writeFileSync(join(own, 'view-vda'), '');
  const ownState = join(scratchDir(t), 'state');
  plant(ownState, 'own', own);
  const recovered = await recover(ownState);
  t.equal(recovered.code, 0, recovered.text);
  t.notOk(existsSync(own), 'the private folder of the killed migration is gone');

  const foreign = join(scratchDir(t), 'ferry-disks-foreign');
  mkdirSync(foreign, { mode: 0o700 });
  writeFileSync(join(foreign, 'precious'), 'keep');
  chownSync(foreign, 65534, 65534);
  const foreignState = join(scratchDir(t), 'state');
  plant(foreignState, 'foreign', foreign);
  const refused = await recover(foreignState);
  t.match(refused.text, `${foreign} is owned by uid 65534`);
  t.ok(existsSync(join(foreign, 'precious')), 'a folder another user owns is left alone');
});

t.test('the QMP socket of a target QEMU whose folder has a long path lives in a private folder, not at a guessable /tmp name, removed with the QEMU', { skip: qemuMissing() ?? false }, async (t) => {
  const workDir = join(scratchDir(t, 'ferry-long-'), 'x'.repeat(100));
  mkdirSync(workDir);
  let argv: string[] = [];
  const logger = { ...silentLogger, info: (obj: object) => { if ('argv' in obj) argv = obj.argv as string[]; } };
  const qemu = await startTargetQemu({ template: 'qemu-system-x86_64 -machine none -nodefaults -display none', images: {}, workDir, logger });
  t.teardown(() => qemu.kill());
  const qmpPath = /^unix:([^,]+),/.exec(argv[argv.indexOf('-qmp') + 1] ?? '')![1]!;
  const folder = dirname(qmpPath);
  t.not(folder, tmpdir(), `the socket is not directly in the shared temp folder (${qmpPath})`);
  const { mode, uid } = statSync(folder);
  t.equal(mode & 0o777, 0o700, 'its folder is private');
  t.equal(uid, process.getuid!(), 'and this user\'s');
  await qemu.kill();
  t.notOk(existsSync(folder), 'killing the QEMU (a rollback) removes the folder');
});

t.test('a QEMU template that does not fit the images a source announced leaves no private socket folder behind', async (t) => {
  const temp = scratchDir(t, 'ferry-tmpdir-');
  const previous = process.env['TMPDIR'];
  process.env['TMPDIR'] = temp; // where os.tmpdir(), and so the private folder, points for this process
  t.teardown(() => { if (previous === undefined) delete process.env['TMPDIR']; else process.env['TMPDIR'] = previous; });
  const workDir = join(scratchDir(t, 'ferry-long-'), 'x'.repeat(100));
  mkdirSync(workDir);
  await t.rejects(startTargetQemu({ template: 'qemu-system-x86_64 -drive file={image:disk}', images: { ram: join(workDir, 'ram') }, workDir, logger: silentLogger }),
    /no image called 'disk'/);
  t.same(readdirSync(temp), [], 'the temp folder holds no ferry-qmp-* folder');
});
