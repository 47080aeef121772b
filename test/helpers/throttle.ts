/**
 * Helpers for the throttle tests: a process's state from /proc, catching `ferry migrate` at a moment the
 * throttle holds the workload stopped and killing it there, finding its guardian, and a cgroup v2 with
 * the cpu controller where the machine has one.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { until } from './wait.js';

/** The state letter and CPU ticks of a process, from /proc/PID/stat (T: stopped). */
export function procStat(pid: number): { state: string; ticks: number; ppid: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return { state: fields[0] ?? '?', ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** Samples a process for a while: it must never be seen stopped, and must use CPU (make progress). */
export async function runsFreely(t: Test, pid: number): Promise<void> {
  const before = procStat(pid);
  const states: string[] = [];
  for (let i = 0; i < 40; i++) {
    states.push(procStat(pid).state);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  t.notOk(states.includes('T'), `pid ${pid} is never seen stopped (states ${[...new Set(states)].join('')})`);
  t.ok(procStat(pid).ticks > before.ticks, `pid ${pid} keeps using CPU`);
}

/**
 * Kills `ferry migrate` (kill -9) at a moment when `stopped()` says the throttle holds the workload
 * stopped: it waits for that, freezes ferry (SIGSTOP, so it cannot continue the workload any more),
 * checks again, runs `whileFrozen` and kills it, or lets ferry go on and waits for the next stop.
 * Resolves once ferry is killed.
 */
export async function killWhileStopped(
  ferry: ChildProcess,
  stopped: () => Promise<boolean> | boolean,
  what: string,
  whileFrozen: () => void = () => {},
): Promise<void> {
  const pid = ferry.pid!;
  for (let attempt = 0; attempt < 50; attempt++) {
    await untilAsync(stopped, `the throttle stops ${what}`);
    ferry.kill('SIGSTOP');
    await until(() => procStat(pid).state === 'T', 'ferry migrate is frozen');
    if (await stopped()) {
      whileFrozen();
      ferry.kill('SIGKILL');
      return;
    }
    ferry.kill('SIGCONT');
  }
  throw new Error(`never caught ${what} stopped with ferry frozen`);
}

async function untilAsync(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The pid of the throttle guardian `ferry migrate` (pid `ferryPid`) started, if it runs. */
export function guardianOf(ferryPid: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (procStat(Number(name)).ppid !== ferryPid) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('guardian.js')) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** A cgroup of the cpu controller that this process may create children in: where to make them, and the file of their limit. */
export interface CpuCgroup {
  readonly root: string;
  /** cpu.max (v2) or cpu.cfs_quota_us (v1). */
  readonly limitFile: string;
}

/** The cpu controller's cgroup root, v2 if it has the controller, else v1 (hybrid hosts), or why neither will do. */
export function cgroupWithCpu(): CpuCgroup | { reason: string } {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  const v2 = mounts.filter((f) => f[2] === 'cgroup2');
  for (const [, root] of v2) {
    if (!readFileSync(join(root!, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) continue;
    try {
      writeFileSync(join(root!, 'cgroup.subtree_control'), '+cpu');
      return { root: root!, limitFile: 'cpu.max' };
    } catch (error) {
      return { reason: `cannot enable the cpu controller under ${root}: ${(error as Error).message}` };
    }
  }
  const v1 = mounts.find((f) => f[2] === 'cgroup' && f[3]?.split(',').includes('cpu'));
  if (v1 && existsSync(join(v1[1]!, 'cpu.cfs_quota_us'))) {
    const probe = join(v1[1]!, `ferry-probe-${process.pid}`);
    try {
      mkdirSync(probe);
      rmdirSync(probe);
      return { root: v1[1]!, limitFile: 'cpu.cfs_quota_us' };
    } catch (error) {
      return { reason: `cannot create a cgroup under ${v1[1]}: ${(error as Error).message}` };
    }
  }
  return { reason: `no cgroup mount has the cpu controller (${v2.length > 0 ? 'the v2 mount lacks it' : 'no v2 mount'}, no writable v1 cpu hierarchy)` };
}
