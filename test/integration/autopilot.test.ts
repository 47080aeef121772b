/**
 * `ferry autopilot` over real daemons on loopback: the fleet ends where the rolling plan puts it, with
 * every committed image byte-identical to its source; a target killed mid-migration leaves the VM at its
 * source and the next period plans it again; a price file changed mid-day changes the next period's
 * moves; measured costs reach the calibration file and change a later plan; a daemon that does not
 * answer keeps its VMs where they are; --listen shows the run on /status and /metrics to token holders
 * only. Periods are 0 s (each starts when the last one's migrations end): nothing waits on time; a pause
 * hook holds a migration where a test looks mid-period.
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
import { dataCentres, FLEET_TOKEN, wireScenario } from '../helpers/fleet.js';
import { joulesPerBitFor, lineScenario } from '../helpers/planner.js';
import { waitForFile } from '../helpers/files.js';
import { http, upgradeStatus } from '../helpers/http-probe.js';

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

/** A pause hook that holds each VM's migration paused while `dir/hold-<vm>` exists, having touched `dir/paused-<vm>`. */
function holdHook(dir: string): string {
  return `if [ -e ${dir}/hold-{vm} ]; then touch ${dir}/paused-{vm}; while [ -e ${dir}/hold-{vm} ]; do sleep 0.05; done; fi`;
}

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
  writeFileSync(join(dir, 'hold-vm-a'), '');
  const scenario = join(dir, 'fleet.json');
  writeFileSync(scenario, JSON.stringify(wireScenario(dayScenario(['vm-a'], dir), dcs, { 'pause-cmd': holdHook(dir) })));

  const running = autopilot(['--scenario', scenario, '--token-file', tokenFile]);
  await waitForFile(join(dir, 'paused-vm-a'));
  dcs[1]!.target.child.kill('SIGKILL');
  rmSync(join(dir, 'hold-vm-a'));
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

t.test('a price file changed mid-day changes the next period\'s moves', async (t) => {
  const dir = scratchDir(t);
  const { dcs, tokenFile } = await sharedDataCentres();
  const vms = ['pc-a', 'pc-b'];
  for (const [i, vm] of vms.entries()) await fillImage(join(dir, `${vm}.img`), MiB, { seed: 10 + i });
  // East is cheaper all day but holds one VM: period 0 moves pc-a there, and then nothing should move.
  const cheapEast = { west: [0.3, 0.3, 0.3], east: [0.1, 0.1, 0.1] };
  const doc = lineScenario({ prices: cheapEast, dcs: [{ name: 'west', maxVMs: 2 }, { name: 'east', maxVMs: 1 }], placement: [{ dc: 'west', count: 2 }], joulesPerBit: joulesPerBitFor(0.01, 0.4) });
  doc['inventory'] = vms.map((name) => ({ name, class: 'std', dc: 'west', image: join(dir, `${name}.img`) }));
  const scenario = join(dir, 'fleet.json');
  writeFileSync(scenario, JSON.stringify(wireScenario(doc, dcs, { 'pause-cmd': holdHook(dir) })));
  const prices = join(dir, 'prices.json');
  writeFileSync(prices, JSON.stringify(cheapEast));
  const dry = await run(process.execPath, [FERRY, 'autopilot', '--scenario', scenario, '--prices', prices, '--dry-run', '--json', '--period', '0']);
  const unchanged = dry.stdout.trim().split('\n').map((l) => JSON.parse(l) as Event);
  t.same(migrations(unchanged).map((m) => [m['period'], m['vm'], m['from'], m['to']]), [[0, 'pc-a', 'west', 'east']], 'with the prices as they are, only period 0 moves');

  // pc-a's migration is held paused while another process announces that west gets cheap from hour 1.
  writeFileSync(join(dir, 'hold-pc-a'), '');
  const running = autopilot(['--scenario', scenario, '--token-file', tokenFile, '--prices', prices]);
  await waitForFile(join(dir, 'paused-pc-a'));
  writeFileSync(prices, JSON.stringify({ west: [0.3, 0.05, 0.05], east: [0.1, 0.3, 0.3] }));
  rmSync(join(dir, 'hold-pc-a'));
  const { code, events } = await running;
  t.equal(code, 0, 'every migration committed');
  t.same(migrations(events).map((m) => [m['period'], m['vm'], m['from'], m['to'], m['result']]), [[0, 'pc-a', 'west', 'east', 'committed'], [1, 'pc-a', 'east', 'west', 'committed']], 'period 1 brings pc-a back west, where it is now cheap');
  t.same(periods(events).map((p) => p['vms']), [[1, 1], [2, 0], [2, 0]], 'and the fleet follows');
  t.equal(await sha256(join(dcs[0]!.targetDir, 'pc-a.p1.d0', 'pc-a')), await sha256(join(dir, 'pc-a.img')), 'pc-a back at west is its image, byte for byte');
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

t.test('--listen: /status and /metrics follow the run for token holders; other clients and web pages are refused', async (t) => {
  const dir = scratchDir(t);
  const { dcs, tokenFile } = await sharedDataCentres();
  const vms = ['st-a', 'st-b'];
  for (const [i, vm] of vms.entries()) await fillImage(join(dir, `${vm}.img`), MiB, { seed: 20 + i });
  const scenario = join(dir, 'fleet.json');
  writeFileSync(scenario, JSON.stringify(wireScenario(dayScenario(vms, dir), dcs, { 'pause-cmd': holdHook(dir) })));
  // One migration at a time: st-a commits, then st-b is held paused while the test looks.
  writeFileSync(join(dir, 'hold-st-b'), '');
  const seen: Event[] = [];
  const running = autopilot(['--scenario', scenario, '--token-file', tokenFile, '--max-per-link', '1', '--listen', '127.0.0.1:0'], (e) => seen.push(e));
  await waitForFile(join(dir, 'paused-st-b'));
  t.equal(seen[0]!['event'], 'listening', 'the first event names the endpoint');
  const url = String(seen[0]!['url']);
  const auth = { Authorization: `Bearer ${FLEET_TOKEN}` };

  const status = await http(`${url}/status`, 'GET', auth);
  t.equal(status.status, 200);
  t.match(JSON.parse(status.body), {
    role: 'autopilot', period: 1, phase: 'running', periodsRun: 1,
    fleet: { readInPeriod: 1, perDc: { west: 2, east: 0 } },
    plan: { period: 1, moves: [{ from: 'west', to: 'east', vmClass: 'std', count: 2 }], starts: [{ vm: 'st-a', migrationId: 'st-a.p1.d1' }, { vm: 'st-b', migrationId: 'st-b.p1.d1' }] },
    inFlight: [{ vm: 'st-b', from: 'west', to: 'east', migrationId: 'st-b.p1.d1' }],
    migrations: { started: 2, committed: 1, rolledBack: 0, failed: 0 },
    cost: { spentDollars: Number(periods(seen)[0]!['dcDollars']) + Number(periods(seen)[0]!['migrationDollars']), neverMigratingDollars: Number(periods(seen)[0]!['neverDollars']) },
  }, 'the period, the fleet as read, its plan, what is in flight, the counts and the bill so far');
  t.notMatch(status.body, FLEET_TOKEN, 'the token is not in it');

  const metrics = await http(`${url}/metrics`, 'GET', auth);
  t.equal(metrics.status, 200);
  const sample = (name: string): number => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics.body)?.[1]);
  t.equal(sample('ferry_autopilot_periods_total{role="autopilot"}'), 1, 'periods run');
  t.equal(sample('ferry_autopilot_migrations_started_total{from="west",to="east",role="autopilot"}'), 2, 'migrations started, by link');
  t.equal(sample('ferry_autopilot_migrations_ended_total{from="west",to="east",result="committed",role="autopilot"}'), 1, 'committed, by link');
  t.equal(sample('ferry_autopilot_migrations_running{role="autopilot"}'), 1, 'one in flight');
  t.equal(sample('ferry_autopilot_cost_dollars_total{kind="dc",role="autopilot"}'), Number(periods(seen)[0]!['dcDollars']), 'the cost so far');
  t.equal(sample('ferry_autopilot_saved_dollars{role="autopilot"}'), 0, 'and the savings: none yet, period 0 moved nothing');

  const refused = [
    ['no token', await http(`${url}/status`, 'GET', {})],
    ['a wrong token', await http(`${url}/metrics`, 'GET', { Authorization: 'Bearer guess' })],
    ['a foreign Origin, token and all', await http(`${url}/status`, 'GET', { ...auth, Origin: 'http://evil.example' })],
    ['a rebound Host', await http(`${url}/status`, 'GET', { ...auth, Host: `evil.example:${new URL(url).port}` })],
  ] as const;
  t.same(refused.map(([why, answer]) => [why, answer.status]), [['no token', 401], ['a wrong token', 401], ['a foreign Origin, token and all', 403], ['a rebound Host', 403]], 'refused: no token, a wrong one, a web page, a rebound name');
  for (const [why, answer] of refused) t.notMatch(answer.body, /st-[ab]|dollars/i, `${why}: the refusal shows nothing of the fleet`);
  t.equal((await http(`${url}/status`, 'POST', { ...auth, 'Content-Type': 'application/json' }, '{}')).status, 405, 'nothing can be changed through it');
  t.equal((await http(`${url}/login`, 'POST', { 'Content-Type': 'application/json' }, JSON.stringify({ token: FLEET_TOKEN }))).status, 401, 'there is no login to trade the token for a cookie');
  t.equal(await upgradeStatus(`${url.replace(/^http/, 'ws')}/events`, {}), 401, 'no WebSocket without the token');
  t.equal(await upgradeStatus(`${url.replace(/^http/, 'ws')}/events`, auth), 404, 'nor with it');

  rmSync(join(dir, 'hold-st-b'));
  const { code } = await running;
  t.equal(code, 0, 'the held migration commits and the day ends');
  const usage = await run(process.execPath, [FERRY, 'autopilot', '--scenario', scenario, '--dry-run', '--listen', '127.0.0.1:0']).catch((error: { code: number; stderr: string }) => error);
  t.match(usage, { code: 2, stderr: /--listen wants --token-file/ }, 'no endpoint without a token, not even for a dry run');
});
