import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FERRY, scratchDir } from '../helpers/ferry.js';
import { repoPath } from '../helpers/repo.js';

const TINY = repoPath('examples', 'plans', 'tiny.json');

t.setTimeout(600_000); // about twenty `ferry plan` processes, each loading HiGHS's WebAssembly; several render charts

function ferryPlan(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FERRY, 'plan', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('ferry plan prints the schedule, the costs and the baseline', async (t) => {
  const run = await ferryPlan(['--scenario', TINY]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^\s+2\s+0\s+4\s+0\.4000\s+1\.18\d\d\s+1\.58\d\d\s+1\.2000\s+west->east 4$/m, 'hour 2 moves four VMs west -> east');
  t.match(run.stdout, /^total\s+1\.6000\s+1\.18\d\d\s+2\.78\d\d\s+3\.2000$/m);
  t.match(run.stdout, /saving against no migration: \$0\.41\d\d/);
  t.match(run.stdout, /^proven optimal \(gap 0\.0000%\)$/m, 'the plan says how close to optimal it is');
});

t.test('--json and --emit migrations', async (t) => {
  const json = await ferryPlan(['--scenario', TINY, '--json']);
  t.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { hours: Array<{ migrations: unknown[] }>; totals: { migrations: number } };
  t.equal(doc.totals.migrations, 4);
  t.same(doc.hours[2]!.migrations, [{ from: 'west', to: 'east', class: 'std', count: 4, bytes: 2 ** 30 * 4 }]);
  const emit = await ferryPlan(['--scenario', TINY, '--emit', 'migrations']);
  t.equal(emit.code, 0, emit.stderr);
  const lines = emit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { url: string; body: { to: string; id: string } });
  t.same(lines.map((l) => [l.url, l.body.to, l.body.id]), ['a', 'b', 'c', 'd'].map((x) => ['http://west.example:7071/migrations', 'ws://east.example:7070', `vm-${x}-h2`]));
});

t.test('bad input exits 2 with a message naming what to fix', async (t) => {
  const dir = scratchDir(t, 'ferry-plan-');
  const doc = JSON.parse(readFileSync(TINY, 'utf8')) as Record<string, any>;
  doc['datacenters'][0].maxVMs = 'lots';
  writeFileSync(join(dir, 'bad.json'), JSON.stringify(doc));
  const bad = await ferryPlan(['--scenario', join(dir, 'bad.json')]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /datacenters\[0\]\.maxVMs: expected an integer in 0\.\.10000000, got "lots"/);
  doc['datacenters'][0].maxVMs = 1;
  doc['datacenters'][1].maxVMs = 2;
  writeFileSync(join(dir, 'full.json'), JSON.stringify(doc));
  const full = await ferryPlan(['--scenario', join(dir, 'full.json')]);
  t.equal(full.code, 2);
  t.match(full.stderr, /DC capacity: 4 VMs do not fit in 2 DCs holding 3 \(west 1, east 2\)/);
  const missing = await ferryPlan(['--scenario', join(dir, 'nope.json')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read scenario/);
  const noScenario = await ferryPlan([]);
  t.equal(noScenario.code, 2);
  t.match(noScenario.stderr, /--scenario FILE is required/);
});

t.test('limits: --hours, --time-limit and --gap are checked; a number out of range and disconnected DCs are named', async (t) => {
  const dir = scratchDir(t, 'ferry-plan-');
  const hours = await ferryPlan(['--scenario', TINY, '--hours', '1000000']);
  t.equal(hours.code, 2);
  t.match(hours.stderr, /--hours: expected an integer in 1\.\.744, got 1000000/);
  const limit = await ferryPlan(['--scenario', TINY, '--time-limit', '0']);
  t.equal(limit.code, 2);
  t.match(limit.stderr, /--time-limit 0: expected seconds/);
  const gap = await ferryPlan(['--scenario', TINY, '--gap', '2']);
  t.equal(gap.code, 2);
  t.match(gap.stderr, /--gap 2: expected a fraction in \[0, 1\)/);
  writeFileSync(join(dir, 'huge.json'), readFileSync(TINY, 'utf8').replace('"serverWatts": 1000', '"serverWatts": 1e400'));
  const huge = await ferryPlan(['--scenario', join(dir, 'huge.json')]);
  t.equal(huge.code, 2);
  t.match(huge.stderr, /power\.serverWatts: expected a number >= 0, got a number out of range/);
  const doc = JSON.parse(readFileSync(TINY, 'utf8')) as Record<string, any>;
  doc['topology'].links = [];
  writeFileSync(join(dir, 'apart.json'), JSON.stringify(doc));
  const apart = await ferryPlan(['--scenario', join(dir, 'apart.json')]);
  t.equal(apart.code, 2);
  t.match(apart.stderr, /not all connected by a route: \{west\} and \{east\} cannot reach each other/);
});

t.test('at a tie nothing moves and the saving is $0.0000; a generous --gap is reported as such', async (t) => {
  const dir = scratchDir(t, 'ferry-plan-');
  const doc = JSON.parse(readFileSync(TINY, 'utf8')) as Record<string, any>;
  doc['prices'] = { west: [0.1, 0.1, 0.1, 0.1], east: [0.1, 0.1, 0.1, 0.1] };
  doc['power'].routerJoulesPerBit = 0;
  writeFileSync(join(dir, 'flat.json'), JSON.stringify(doc));
  const flat = await ferryPlan(['--scenario', join(dir, 'flat.json')]);
  t.equal(flat.code, 0, flat.stderr);
  t.match(flat.stdout, /^saving against no migration: \$0\.0000 \(0\.00%\); 0 migrations/m);
  t.notMatch(flat.stdout, /-0\.0000/);
  const loose = await ferryPlan(['--scenario', TINY, '--gap', '0.5']);
  t.equal(loose.code, 0, loose.stderr);
  t.match(loose.stdout, /^(proven optimal|the solver stopped at the requested gap: the plan is within \d+\.\d\d% of the optimum)/m);
});

t.test('--plots with several scenarios writes the comparison and every hour-by-hour chart, inside the folder', async (t) => {
  const dir = scratchDir(t, 'ferry-plan-');
  const doc = JSON.parse(readFileSync(TINY, 'utf8')) as Record<string, any>;
  doc['name'] = '../escape';
  doc['hours'] = 2;
  writeFileSync(join(dir, 'short.json'), JSON.stringify(doc));
  const plots = join(dir, 'plots');
  const run = await ferryPlan(['--scenario', TINY, '--scenario', join(dir, 'short.json'), '--plots', plots]);
  t.equal(run.code, 0, run.stderr);
  t.same(readdirSync(plots).sort(), ['plan-.._escape-hours.svg', 'plan-cost-vs-vms.svg', 'plan-tiny-hours.svg']);
  const cost = readFileSync(join(plots, 'plan-cost-vs-vms.svg'), 'utf8');
  t.match(cost, /Operational cost over each scenario&#39;s horizon|Operational cost over each scenario's horizon/, 'horizons differ: the title says so');
  t.match(cost, /tiny \(4 VMs, 4 h\)/, 'bars are labelled by scenario');
});
