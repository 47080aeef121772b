/**
 * Crash safety of the throttle: `ferry migrate` is killed (kill -9) at a moment its throttle holds the
 * workload stopped or limited, and the workload must run at full speed again. Its guardian process does
 * that at once; when the guardian is killed too, `ferry recover` does it from the journal. A real writer
 * process (--throttle-pid) and a cgroup (v2, or v1 on hybrid hosts, where the machine has the cpu controller; else a stand-in
 * directory with the same files checks that cpu.max is written back) are throttled. The QEMU guest case
 * is in test/e2e/qemu-throttle.ts.
 */
import t, { type Test } from 'tap';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { FERRY, runMigrate, scratchDir, startTarget, startWorkload, type MigrateRun } from '../helpers/ferry.js';
import { cgroupWithCpu, guardianOf, killWhileStopped, procStat, runsFreely, type CpuCgroup } from '../helpers/throttle.js';
import { until } from '../helpers/wait.js';

// Small enough that the throttle steps in a few seconds after pre-copy starts; the writer outruns the link.
const SIZE = 16 * 1024 * 1024;
// --max-downtime 50 keeps the migration from pausing: a stop seen here is the throttle's, not the pause's.
const LINK = ['--rate-limit', '40mbit', '--no-delta', '--compress', 'never', '--max-downtime', '50'];

async function setup(t: Test): Promise<{ dir: string; image: string; url: string; writer: number; stateDir: string }> {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 9 });
  const writer = await startWorkload(t, image, SIZE, 'compile', '40MiB/s');
  const target = await startTarget(t, join(dir, 'target'));
  const stateDir = join(dir, 'journal');
  return { dir, image, url: target.url, writer: writer.pid, stateDir };
}

type AtThrottle = (child: ChildProcess, stoppedByThrottle: () => boolean) => Promise<void>;

/**
 * Migrates with the writer's PID throttled; `atThrottle` runs once, at the first step above 0, and is
 * told when the writer is stopped while the throttle holds it (a step above 0, no pause decided yet).
 */
function migrateThrottlingPid(t: Test, s: { image: string; url: string; writer: number; stateDir: string }, atThrottle: AtThrottle): Promise<MigrateRun> {
  let acting: Promise<void> | undefined;
  let throttling = false;
  const stoppedByThrottle = (): boolean => throttling && procStat(s.writer).state === 'T';
  const run = runMigrate(t, ['--to', s.url, '--id', 'crash', '--image', `ram=${s.image}`, ...LINK, '--state-dir', s.stateDir,
    '--throttle-pid', String(s.writer), '--pause-cmd', `kill -STOP ${s.writer}`, '--resume-cmd', `kill -CONT ${s.writer}`], (event, child) => {
    if (event['event'] === 'throttle') throttling = Number(event['level']) > 0;
    if (event['event'] === 'pass-end' && event['stop'] === true) throttling = false;
    if (acting === undefined && throttling) acting = atThrottle(child, stoppedByThrottle);
  });
  return run.then(async (result) => {
    await acting;
    return result;
  });
}

function recover(stateDir: string): { code: number | null; lines: Array<Record<string, unknown>> } {
  const result = spawnSync(process.execPath, [FERRY, 'recover', '--state-dir', stateDir, '--json'], { encoding: 'utf8' });
  return { code: result.status, lines: result.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

t.setTimeout(600_000); // a guard against a hang: each case waits for the throttle to hold the writer, which a loaded machine delays

t.test('kill -9 of ferry migrate while the duty cycle has the writer stopped: the guardian continues it', async (t) => {
  const s = await setup(t);
  const run = await migrateThrottlingPid(t, s, (child, stopped) => killWhileStopped(child, stopped, `pid ${s.writer}`));
  t.equal(run.code, null, 'ferry migrate was killed');
  t.ok(run.events.some((e) => e['event'] === 'throttle' && Number(e['level']) > 0), 'the writer was throttled');
  await until(() => procStat(s.writer).state !== 'T', 'the writer runs again', 20_000);
  await runsFreely(t, s.writer);
  const recovered = recover(s.stateDir);
  t.equal(recovered.code, 0, `recover finds the journal and is content (${JSON.stringify(recovered.lines)})`);
  t.ok(recovered.lines.some((l) => l['action'] === 'throttle' && String(l['message']).includes(`pid ${s.writer} continued`)), 'the journal had the throttle armed');
  t.same(recover(s.stateDir).lines.map((l) => l['action']), ['nothing'], 'the journal is gone after recover');
});

t.test('with the guardian killed too, ferry recover continues the writer from the journal', async (t) => {
  const s = await setup(t);
  const run = await migrateThrottlingPid(t, s, async (child, stopped) => {
    let guardian: number | undefined;
    await until(() => (guardian = guardianOf(child.pid!)) !== undefined, 'the guardian runs');
    // The guardian dies while ferry is frozen with the writer stopped: a ferry that saw its guardian die
    // would stop throttling (it cannot arm it any more), so killing it first races the next throttle step.
    await killWhileStopped(child, stopped, `pid ${s.writer}`, () => process.kill(guardian!, 'SIGKILL'));
  });
  t.equal(run.code, null, 'ferry migrate was killed');
  t.equal(procStat(s.writer).state, 'T', 'nobody continued the writer: ferry and its guardian are dead');
  const recovered = recover(s.stateDir);
  t.equal(recovered.code, 0, `recover exits 0 (${JSON.stringify(recovered.lines)})`);
  t.match(recovered.lines.map((l) => String(l['message'])).join('\n'), new RegExp(`pid ${s.writer} continued`));
  await runsFreely(t, s.writer);
});

t.test('kill -9 while cpu.max is limited (stand-in cgroup directory): the guardian writes the original back', async (t) => {
  const s = await setup(t);
  const group = join(s.dir, 'cgroup');
  mkdirSync(group);
  writeFileSync(join(group, 'cpu.max'), 'max 100000\n');
  writeFileSync(join(group, 'cpu.stat'), 'usage_usec 0\n');
  await killLimited(t, s, group);
  t.equal(readFileSync(join(group, 'cpu.max'), 'utf8'), 'max 100000', 'cpu.max is back to what it was');
});

const cgroup = cgroupWithCpu();
if ('reason' in cgroup) t.comment(`real cgroup crash test skipped: ${cgroup.reason}`);
t.test('kill -9 while a real cgroup CPU limit holds the writer: the limit is lifted', { skip: 'reason' in cgroup ? cgroup.reason : false }, async (t) => {
  const { root, limitFile } = cgroup as CpuCgroup;
  const group = join(root, `ferry-crash-${process.pid}`);
  mkdirSync(group);
  t.teardown(() => rmdirSync(group));
  const original = readFileSync(join(group, limitFile), 'utf8');
  const s = await setup(t);
  writeFileSync(join(group, 'cgroup.procs'), String(s.writer));
  t.teardown(() => writeFileSync(join(root, 'cgroup.procs'), String(s.writer)));
  await killLimited(t, s, group, limitFile);
  t.equal(readFileSync(join(group, limitFile), 'utf8'), original, `${limitFile} is back to what it was`);
  await runsFreely(t, s.writer);
});

/** Migrates with --cgroup GROUP, kills ferry once its limit file holds a limit, and waits for it to be lifted. */
async function killLimited(t: Test, s: { image: string; url: string; stateDir: string }, group: string, limitFile = 'cpu.max'): Promise<void> {
  const cpuMax = join(group, limitFile);
  const original = readFileSync(cpuMax, 'utf8');
  let killed: Promise<void> | undefined;
  const run = await runMigrate(t, ['--to', s.url, '--id', 'cgroup-crash', '--image', `ram=${s.image}`, ...LINK, '--state-dir', s.stateDir, '--cgroup', group], (event, child) => {
    if (killed !== undefined || event['event'] !== 'throttle' || Number(event['level']) <= 0) return;
    killed = until(() => readFileSync(cpuMax, 'utf8') !== original, 'cpu.max holds a limit').then(() => { child.kill('SIGKILL'); });
  });
  await killed;
  t.equal(run.code, null, 'ferry migrate was killed');
  await until(() => readFileSync(cpuMax, 'utf8').trim() === original.trim(), 'cpu.max is written back', 20_000);
}
