/**
 * `ferry recover` against journals it must not trust, planted as another local user would plant them:
 * owned by another uid, writable by others, symlinked, naming a folder outside the state directory,
 * asking to write files that are not cgroup CPU limits; and a journal whose pid now belongs to another
 * process. Real `ferry recover` processes, real files, real ownership (the tests run as root and chown
 * to nobody, uid 65534).
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processStartTime } from '@ferry/throttle/proc-stat';
import { FERRY, scratchDir } from '../helpers/ferry.js';

const NOBODY = 65534;
/** A pid above the kernel's pid_max: no process has it, ever. */
const DEAD_PID = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;

interface Recovered { readonly code: number | null; readonly lines: Array<Record<string, unknown>>; readonly text: string }

function recover(stateDir: string): Promise<Recovered> {
  const child = spawn(process.execPath, [FERRY, 'recover', '--json', '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  return new Promise((resolve) => child.once('exit', (code) => {
    const lines = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    resolve({ code, lines, text: `${lines.map((l) => String(l['message'])).join('\n')}\n${stderr}` });
  }));
}

/** A state directory as `ferry migrate` makes it: private to this user. */
function stateDirOf(t: Test): { root: string; stateDir: string; marker: string } {
  const root = scratchDir(t);
  const stateDir = join(root, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  return { root, stateDir, marker: join(root, 'resumed') };
}

/** A journal of a migration killed after the pause and before GO, whose resume command touches `marker`. */
function journalOf(migrationId: string, marker: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    migrationId, pid: DEAD_PID, target: 'ws://127.0.0.1:9', phase: 'state', paused: true, goSent: false,
    recovery: { resumeCmd: `touch ${marker}`, hookTimeoutMs: 10_000 }, updatedAt: new Date().toISOString(), ...extra,
  };
}

function plant(stateDir: string, folder: string, entry: Record<string, unknown>): string {
  mkdirSync(join(stateDir, folder), { mode: 0o700 });
  const file = join(stateDir, folder, 'journal.json');
  writeFileSync(file, JSON.stringify(entry), { mode: 0o600 });
  return file;
}

t.test('a journal another user wrote is refused, and its resume command never runs', async (t) => {
  const { stateDir, marker } = stateDirOf(t);
  const file = plant(stateDir, 'planted', journalOf('planted', marker));
  chownSync(file, NOBODY, NOBODY);
  const folderOwned = plant(stateDir, 'planted-folder', journalOf('planted-folder', marker));
  chownSync(join(stateDir, 'planted-folder'), NOBODY, NOBODY);
  const recovered = await recover(stateDir);
  t.equal(recovered.code, 1, 'recover fails');
  t.match(recovered.text, `${file} is owned by uid ${NOBODY}, not by this user (uid 0): not trusted`);
  t.match(recovered.text, `${join(stateDir, 'planted-folder')} is owned by uid ${NOBODY}`);
  t.notOk(existsSync(marker), 'no resume command ran');
  t.ok(existsSync(file) && existsSync(folderOwned), 'the refused journals stay for the user to look at');
});

t.test('a journal others may write, or a symbolic link, is refused', async (t) => {
  const { root, stateDir, marker } = stateDirOf(t);
  const writable = plant(stateDir, 'writable', journalOf('writable', marker));
  chmodSync(writable, 0o666);
  const elsewhere = join(root, 'elsewhere.json');
  writeFileSync(elsewhere, JSON.stringify(journalOf('linked', marker)), { mode: 0o600 });
  mkdirSync(join(stateDir, 'linked'), { mode: 0o700 });
  symlinkSync(elsewhere, join(stateDir, 'linked', 'journal.json'));
  const recovered = await recover(stateDir);
  t.equal(recovered.code, 1);
  t.match(recovered.text, `${writable} is writable by group or others (mode 666)`);
  t.match(recovered.text, `${join(stateDir, 'linked', 'journal.json')} is a symbolic link`);
  t.notOk(existsSync(marker), 'no resume command ran');
});

t.test('a state directory another user owns, or that others may write, is refused whole', async (t) => {
  for (const [what, prepare, problem] of [
    ['owned by nobody', (dir: string) => chownSync(dir, NOBODY, NOBODY), `is owned by uid ${NOBODY}`],
    ['world-writable', (dir: string) => chmodSync(dir, 0o777), 'is writable by group or others (mode 777)'],
  ] as const) {
    const { stateDir, marker } = stateDirOf(t);
    plant(stateDir, 'm', journalOf('m', marker));
    prepare(stateDir);
    const recovered = await recover(stateDir);
    t.equal(recovered.code, 1, `${what}: recover fails`);
    t.match(recovered.text, `${stateDir} ${problem}`, what);
    t.notOk(existsSync(marker), `${what}: no resume command ran`);
  }
});

t.test('a migration id that is not its folder\'s name is refused, and nothing outside the state directory is deleted', async (t) => {
  const { root, stateDir, marker } = stateDirOf(t);
  const victim = join(root, 'victim');
  mkdirSync(victim);
  writeFileSync(join(victim, 'precious'), 'keep me');
  plant(stateDir, 'x', journalOf('../victim', marker, { paused: false, phase: 'precopy' }));
  plant(stateDir, 'y', journalOf('other', marker));
  const recovered = await recover(stateDir);
  t.equal(recovered.code, 1);
  t.match(recovered.text, /migration id "\.\.\/victim" is not allowed/);
  t.match(recovered.text, /names migration "other" but lies in folder "y"/);
  t.ok(existsSync(join(victim, 'precious')), 'the folder outside the state directory is untouched');
  t.notOk(existsSync(marker), 'no resume command ran');
});

t.test('throttle undo steps from a journal write only cgroup CPU limits, with numbers, even after GO', async (t) => {
  const { root, stateDir, marker } = stateDirOf(t);
  const victim = join(root, 'victim');
  writeFileSync(victim, 'original');
  plant(stateDir, 'go', journalOf('go', marker, {
    goSent: true, phase: 'unknown',
    throttleUndo: [{ kind: 'cpu-max', file: victim, value: 'pwned' }, { kind: 'cpu-max', file: '/sys/fs/cgroup/../../tmp/x/cpu.max', value: 'max 100000' }],
  }));
  const recovered = await recover(stateDir);
  t.equal(readFileSync(victim, 'utf8'), 'original', 'the file named by the journal was not written');
  t.match(recovered.text, new RegExp(`refused: ${victim} is not a cgroup CPU limit file`));
  t.match(recovered.text, /refused: \/sys\/fs\/cgroup\/\.\.\/\.\.\/tmp\/x\/cpu\.max is not a cgroup CPU limit file/);
  t.equal(recovered.code, 4, 'GO was sent: outcome unknown, as before');
  t.notOk(existsSync(marker));
});

t.test('a pid now used by another process does not count as the migration still running', async (t) => {
  const { stateDir, marker } = stateDirOf(t);
  // This test's own process lives, but started at another time than the journal says.
  plant(stateDir, 'reused', journalOf('reused', marker, { pid: process.pid, pidStartTime: '1' }));
  const recovered = await recover(stateDir);
  t.equal(recovered.code, 0, recovered.text);
  t.match(recovered.text, /after the pause and before GO: resuming/);
  t.ok(existsSync(marker), 'the workload was resumed');

  const live = stateDirOf(t);
  plant(live.stateDir, 'live', journalOf('live', live.marker, { pid: process.pid, pidStartTime: processStartTime(process.pid) }));
  const left = await recover(live.stateDir);
  t.equal(left.code, 0);
  t.match(left.text, /migration live is still running \(pid \d+\); leave it be/);
  t.notOk(existsSync(live.marker), 'a migration whose process lives is left alone');
});
