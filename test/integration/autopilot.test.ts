/**
 * `ferry autopilot` over real daemons on loopback: the fleet ends where the rolling plan puts it, with
 * every committed image byte-identical to its source; a target killed mid-migration leaves the VM at its
 * source and the next period plans it again; measured costs reach the calibration file and change a
 * later plan; a daemon that does not answer keeps its VMs where they are. Periods are 0 s (each starts when the last one's migrations end): nothing waits on time.
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { fillImage } from '@ferry/workload';
import { FERRY, scratchDir, sha256 } from '../helpers/ferry.js';
import { dataCentres, wireScenario } from '../helpers/fleet.js';
import { joulesPerBitFor, lineScenario } from '../helpers/planner.js';
import { waitForFile } from '../helpers/files.js';

t.setTimeout(600_000); // each test spawns four daemons and an autopilot that loads HiGHS; the machine may be shared

const run = promisify(execFile);
const MiB = 1024 * 1024;

type Event = Record<string, unknown>;

/** Runs the autopilot with --json; `onEvent` sees each event as it arrives. */
async function autopilot(args: string[], onEvent: (e: Event) => void = () => undefined): Promise<{ code: number | null; events: Event[] }> {
  const child = spawn(process.execPath, [FERRY, 'autopilot', '--period', '0', '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const events: Event[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as Event;
    events.push(e);
    onEvent(e);
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, events };
}

/** West and east daemons for the tests that leave them running; their VMs have distinct names, so their fleets never mix. */
let shared: ReturnType<typeof dataCentres> | undefined;
const sharedDataCentres = (): ReturnType<typeof dataCentres> => (shared ??= dataCentres(t, scratchDir(t), ['west', 'east']));

const periods = (events: Event[]): Event[] => events.filter((e) => e['event'] === 'period');
const migrations = (events: Event[]): Event[] => events.filter((e) => e['event'] === 'migration');

/** Two DCs; west gets dearer from hour 1 on, so the plan moves everything east then. */
function dayScenario(vms: string[], dir: string): Record<string, unknown> {
  const doc = lineScenario({
    prices: { west: [0.1, 0.3, 0.3], east: [0.2, 0.1, 0.1] },
    dcs: [{ name: 'west', maxVMs: 4 }, { name: 'east', maxVMs: 4 }],
    placement: [{ dc: 'west', count: vms.length }],
    joulesPerBit: joulesPerBitFor(0.01, 0.4),
  });
  return { ...doc, inventory: vms.map((name) => ({ name, class: 'std', dc: 'west', image: join(dir, `${name}.img`) })) };
}

t.test('the fleet ends where the rolling plan puts it; each committed image is its source, byte for byte', async (t) => {
  const dir = scratchDir(t);
  const { dcs, tokenFile } = await sharedDataCentres();
  const vms = ['vm-a', 'vm-b'];
  for (const [i, vm] of vms.entries()) await fillImage(join(dir, `${vm}.img`), MiB, { seed: i + 1 });
  const scenario = join(dir, 'fleet.json');
  writeFileSync(scenario, JSON.stringify(wireScenario(dayScenario(vms, dir), dcs)));

  const { code, events } = await autopilot(['--scenario', scenario, '--token-file', tokenFile]);
  t.equal(code, 0, 'every migration committed');
  const { stdout } = await run(process.execPath, [FERRY, 'plan', '--scenario', scenario, '--rolling', '--json']);
  const planned = (JSON.parse(stdout) as { hours: Array<{ vms: Record<string, { std: number }> }> }).hours.map((h) => [h.vms['west']!.std, h.vms['east']!.std]);
  t.same(periods(events).map((p) => p['vms']), planned, 'hour by hour, the fleet is where ferry plan --rolling puts it');
  t.same(periods(events).at(-1)!['vms'], [0, 2], 'and ends in the cheap DC');
  for (const m of migrations(events)) {
    t.equal(m['result'], 'committed', `${String(m['migrationId'])} committed`);
    const moved = join(dcs[1]!.targetDir, String(m['migrationId']), String(m['vm']));
    t.equal(await sha256(moved), await sha256(join(dir, `${String(m['vm'])}.img`)), `${String(m['vm'])} at east is its source image`);
  }
});

t.test('a target killed mid-migration leaves the VM at its source, and the next period plans it again', async (t) => {
  const dir = scratchDir(t);
  const { dcs, tokenFile } = await dataCentres(t, dir, ['west', 'east']);
  await fillImage(join(dir, 'vm-a.img'), MiB, { seed: 3 });
  const before = await sha256(join(dir, 'vm-a.img'));
  // The pause hook holds the first migration paused until the test has killed the target.
  const hold = join(dir, 'hold');
  const paused = join(dir, 'paused');
  writeFileSync(hold, '');
  const pauseCmd = `if [ -e ${hold} ]; then touch ${paused}; while [ -e ${hold} ]; do sleep 0.05; done; fi`;
  const scenario = join(dir, 'fleet.json');
  writeFileSync(scenario, JSON.stringify(wireScenario(dayScenario(['vm-a'], dir), dcs, { 'pause-cmd': pauseCmd })));

  const running = autopilot(['--scenario', scenario, '--token-file', tokenFile]);
  await waitForFile(paused);
  dcs[1]!.target.child.kill('SIGKILL');
  rmSync(hold);
  const { code, events } = await running;

  t.equal(code, 3, 'exit 3: some migration did not commit');
  const first = migrations(events)[0]!;
  t.match(first, { period: 1, vm: 'vm-a', result: 'rolled-back' }, 'the migration rolled back');
  t.same(periods(events)[1]!['vms'], [1, 0], 'after it, vm-a is still at west');
  t.match(periods(events)[1]!['diverged'], [/vm-a west->east rolled back/], 'the log says what diverged and why');
  t.equal(periods(events)[2]!['planned'], 1, 'the next period plans vm-a again');
  t.ok(migrations(events).some((m) => m['period'] === 2 && m['vm'] === 'vm-a'), 'and tries it');
  t.equal(await sha256(join(dir, 'vm-a.img')), before, 'the source image is untouched');
  t.notOk(existsSync(join(dcs[1]!.targetDir, String(first['migrationId']), 'vm-a')), 'no committed copy at east');
});

t.test('measured costs reach the calibration file and change a later plan', async (t) => {
  const dir = scratchDir(t);
  const { dcs, tokenFile } = await sharedDataCentres();
  // A compressible image: LZ4 sends a fraction of it, so ferry's measured charge is far below the memory size.
  for (const vm of ['small', 'big']) writeFileSync(join(dir, `${vm}.img`), Buffer.alloc(MiB, 'ferry autopilot '));
  const doc = lineScenario({ prices: { west: [1, 1], east: [0.5, 0.5] }, dcs: [{ name: 'west', maxVMs: 2 }, { name: 'east', maxVMs: 2 }], placement: [], joulesPerBit: joulesPerBitFor(3, 1.5) });
  // Moving 'big' costs $3 at its memory size, more than the $1 it can save; 'small' costs almost nothing.
  doc['classes'] = [{ name: 'big', memoryGiB: 1, vmsPerServer: 1 }, { name: 'small', memoryGiB: 0.001, vmsPerServer: 1 }];
  doc['placement'] = [{ dc: 'west', class: 'big', count: 1 }, { dc: 'west', class: 'small', count: 1 }];
  doc['inventory'] = ['big', 'small'].map((name) => ({ name, class: name, dc: 'west', image: join(dir, `${name}.img`) }));
  const scenario = join(dir, 'fleet.json');
  writeFileSync(scenario, JSON.stringify(wireScenario(doc, dcs, { compress: 'always' })));
  const calibration = join(dir, 'calibration.ndjson');

  const { events } = await autopilot(['--scenario', scenario, '--token-file', tokenFile, '--calibrate', calibration]);
  const lines = readFileSync(calibration, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Event);
  t.match(lines[0], { result: 'committed', migrationId: 'small.p0.d1' }, "the first migration's summary is in the calibration file");
  t.ok(Number(lines[0]!['bytesSent']) < MiB / 4, 'and it says how little ferry sent');
  t.match(periods(events).map((p) => p['charge']), ['memory size', /^calibrated /], 'the next plan charges what was measured');
  t.match(migrations(events).map((m) => [m['period'], m['vm'], m['result']]), [[0, 'small', 'committed'], [1, 'big', 'committed']], 'and moves the big VM, which the memory-size charge kept');

  const { stdout } = await run(process.execPath, [FERRY, 'autopilot', '--scenario', scenario, '--dry-run', '--json', '--period', '0']);
  const dry = stdout.trim().split('\n').map((l) => JSON.parse(l) as Event);
  t.same(migrations(dry).map((m) => m['vm']), ['small'], 'without the measurements the big VM never moves');
});

t.test('a source daemon that does not answer: nothing leaves its DC, and the log says why', async (t) => {
  const dir = scratchDir(t);
  const closed = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
  const dcs = ['west', 'east'].map((name) => ({ name, source: { url: `http://127.0.0.1:${closed}` }, target: { url: `ws://127.0.0.1:${closed}` }, targetDir: join(dir, name) }));
  const scenario = join(dir, 'fleet.json');
  writeFileSync(scenario, JSON.stringify(wireScenario(dayScenario(['vm-a'], dir), dcs as never)));
  const token = join(dir, 'token');
  writeFileSync(token, 'unused', { mode: 0o600 });
  const { code, events } = await autopilot(['--scenario', scenario, '--token-file', token]);
  t.equal(code, 0, 'no migration failed: none was started');
  t.same(migrations(events), [], 'nothing was started');
  t.same(periods(events).map((p) => p['vms']), [[1, 0], [1, 0], [1, 0]], 'vm-a stays at west all day');
  t.match(periods(events)[1]!['diverged'], [/west's source daemon does not answer/], 'the planned move is reported as not started, with why');
  t.ok(events.some((e) => e['event'] === 'note' && /does not answer/.test(String(e['message']))), 'and each period notes the daemon that did not answer');

  writeFileSync(scenario, JSON.stringify(wireScenario(dayScenario(['vm-a'], dir), dcs as never)), { mode: 0o666 });
  chmodSync(scenario, 0o666);
  const refused = await run(process.execPath, [FERRY, 'autopilot', '--scenario', scenario, '--token-file', token]).catch((error: { code: number; stderr: string }) => error);
  t.match(refused, { code: 2, stderr: /can be written by others/ }, 'a scenario others may write is refused: it names commands the daemons run');
});
