/**
 * `npm run demo:fleet`: three data centres on this machine, each a `ferry source` and a `ferry target`
 * daemon, the targets reached through `ferry wan-proxy` links; six small synthetic workloads; a day of 24
 * periods compressed into about a minute under `ferry autopilot`. Prints the autopilot's hour-by-hour
 * table and bill, then checks every switch: the image each target committed is byte-identical to its
 * source as it was paused, and each VM runs in exactly one place at the end.
 *
 * The workloads are `ferry workload` processes writing into small image files. Pausing one is SIGSTOP
 * (`--pause-cmd`), rolling back SIGCONT; the target's `--on-commit` hook hashes the committed image, stops
 * the paused source copy for good and starts the workload on the target's file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const FERRY = fileURLToPath(new URL('../cli/bin/ferry.js', import.meta.url));
const DCS = ['north', 'central', 'south'];
const VMS = ['vm1', 'vm2', 'vm3', 'vm4', 'vm5', 'vm6'];
const IMAGE = '4MiB';
const PERIOD = process.env['FLEET_PERIOD'] ?? '2s';
const children: ChildProcess[] = [];

function start(args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [FERRY, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`ferry ${args[0]} exited ${code} before it was ready`)));
  });
}

/** Each zone's price follows the sun a third of a day after the last: cheap somewhere at every hour. */
function scenario(dir: string, dcs: ReadonlyArray<{ sourceUrl: string; targetUrl: string; targetDir: string }>): Record<string, unknown> {
  const prices = Object.fromEntries(DCS.map((name, z) => [name, Array.from({ length: 24 }, (_, h) => Number((0.12 + 0.08 * Math.cos((2 * Math.PI * (h - 8 * z)) / 24)).toFixed(4)))]));
  const pids = join(dir, 'pids');
  return {
    name: 'demo-fleet', hours: 24,
    topology: { nodes: 3, links: [{ a: 1, b: 2, km: 500, gbps: 10 }, { a: 2, b: 3, km: 500, gbps: 10 }, { a: 1, b: 3, km: 900, gbps: 10 }], zones: DCS },
    prices,
    datacenters: DCS.map((name, i) => ({ name, node: i + 1, maxVMs: 6, sourceUrl: dcs[i]!.sourceUrl, targetUrl: dcs[i]!.targetUrl })),
    // A 2 GiB VM on a 300 W server share; a move costs about as much as two hours of the price gap.
    power: { rackWatts: 0, serverWatts: 300, serversPerRack: 10, routerJoulesPerBit: 2.5e-7 },
    classes: [{ name: 'std', memoryGiB: 2, vmsPerServer: 1, dirtyMBps: 1 }],
    placement: DCS.map((dc) => ({ dc, class: 'std', count: 2 })),
    inventory: VMS.map((name, i) => ({ name, class: 'std', dc: DCS[i % 3], image: join(dir, 'images', `${name}.img`) })),
    autopilot: {
      targetDirs: Object.fromEntries(DCS.map((name, i) => [name, dcs[i]!.targetDir])),
      migrate: { 'pause-cmd': `kill -STOP $(cat ${pids}/{vm})`, 'resume-cmd': `kill -CONT $(cat ${pids}/{vm})`, compress: 'always' },
    },
  };
}

/** The target's commit hook: hash what was committed, end the paused source copy, run the VM here. */
function onCommit(dir: string): string {
  const script = join(dir, 'on-commit.sh');
  writeFileSync(script, `#!/bin/sh
set -e
vm="\${FERRY_MIGRATION_ID%%.*}"
sha256sum "$FERRY_DIR/$vm" | cut -d' ' -f1 > "${dir}/switches/$FERRY_MIGRATION_ID"
kill -KILL "$(cat "${dir}/pids/$vm")" 2>/dev/null || true
setsid "${process.execPath}" "${FERRY}" workload --image "$FERRY_DIR/$vm" --size ${IMAGE} --profile web --rate 256KB/s >/dev/null 2>&1 < /dev/null &
echo $! > "${dir}/pids/$vm"
`, { mode: 0o700 });
  return script;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', 'ferry-fleet-'));
  for (const sub of ['images', 'pids', 'switches']) mkdirSync(join(dir, sub));
  const token = join(dir, 'token');
  writeFileSync(token, `fleet-${process.pid}-${Date.now()}`, { mode: 0o600 });
  try {
    const hook = onCommit(dir);
    const began = performance.now();
    // Every process starts at once (only a link waits for its target's port): on two cores, fifteen
    // Node processes started one after another took most of the demo's first seconds.
    const datacentres = Promise.all(DCS.map(async (name) => {
      const targetDir = join(dir, name, 'target');
      mkdirSync(targetDir, { recursive: true });
      const [link, source] = await Promise.all([
        start(['target', '--listen', '127.0.0.1:0', '--dir', targetDir, '--on-commit', hook, '--log-level', 'error'])
          .then((target) => start(['wan-proxy', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${String(target['port'])}`, '--delay', '10', '--rate', '200mbit', '--log-level', 'error'])),
        start(['source', '--listen', '127.0.0.1:0', '--token-file', token, '--log-level', 'error']),
      ]);
      return { sourceUrl: String(source['url']), targetUrl: `ws://127.0.0.1:${String(link['port'])}`, targetDir };
    }));
    const workloads = Promise.all(VMS.map(async (vm, i) => {
      const ready = await start(['workload', '--image', join(dir, 'images', `${vm}.img`), '--size', IMAGE, '--profile', 'web', '--rate', '256KB/s', '--fill', '--seed', String(i + 1)]);
      writeFileSync(join(dir, 'pids', vm), String(ready['pid']));
    }));
    const [dcs] = await Promise.all([datacentres, workloads]);
    const file = join(dir, 'fleet.json');
    const doc = scenario(dir, dcs);
    writeFileSync(file, JSON.stringify(doc, null, 1));
    process.stdout.write(`three data centres and six workloads ready in ${seconds(began)}; a day of 24 periods of ${PERIOD} (scenario: ${file})\n`);
    const dayBegan = performance.now();
    const autopilot = spawn(process.execPath, [FERRY, 'autopilot', '--scenario', file, '--token-file', token, '--period', PERIOD, '--calibrate', join(dir, 'calibration.ndjson')], { stdio: ['ignore', 'inherit', 'inherit'] });
    const code = await new Promise<number | null>((resolve) => autopilot.once('exit', resolve));
    process.stdout.write(`the day took ${seconds(dayBegan)} (the autopilot's start and its 24 periods)\n`);
    const problems = checkSwitches(dir, doc);
    process.stdout.write(problems.length === 0 ? 'every switch checked: each committed image is byte-identical to its paused source, and each VM runs in one place\n' : `${problems.join('\n')}\n`);
    return problems.length === 0 && code === 0 ? 0 : 1;
  } finally {
    for (const vm of VMS) stopWorkload(join(dir, 'pids', vm));
    for (const child of children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Replays each VM's moves from the hashes the commit hook took: the source file is frozen since its pause. */
function checkSwitches(dir: string, doc: Record<string, unknown>): string[] {
  const targetDirs = (doc['autopilot'] as { targetDirs: Record<string, string> }).targetDirs;
  const problems: string[] = [];
  const ids = readdirSync(join(dir, 'switches')).map((id) => ({ id, vm: id.split('.')[0]!, period: Number(/\.p(\d+)\./.exec(id)![1]), to: Number(/\.d(\d+)$/.exec(id)![1]) }));
  for (const vm of VMS) {
    let source = join(dir, 'images', `${vm}.img`);
    for (const move of ids.filter((m) => m.vm === vm).sort((a, b) => a.period - b.period)) {
      const committed = readFileSync(join(dir, 'switches', move.id), 'utf8').trim();
      if (committed !== sha256(source)) problems.push(`${move.id}: the committed image differs from its source at the switch`);
      source = join(targetDirs[DCS[move.to]!]!, move.id, vm);
    }
    const pid = Number(readFileSync(join(dir, 'pids', vm), 'utf8'));
    if (!alive(pid)) problems.push(`${vm}: its workload (pid ${pid}) is not running at the end`);
  }
  return problems;
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function stopWorkload(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (!alive(pid)) return;
  process.kill(pid, 'SIGCONT');
  process.kill(pid, 'SIGTERM');
}

process.exitCode = await main();
