/**
 * Helpers for the throttle tests: a process's state from /proc, catching `ferry migrate` at a moment the
 * throttle holds the workload stopped and killing it there, finding its guardian, and a cgroup v2 with
 * the cpu controller where the machine has one.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
 * checks again and kills it, or lets ferry go on and waits for the next stop. Resolves once ferry is killed.
 */
export async function killWhileStopped(ferry: ChildProcess, stopped: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const pid = ferry.pid!;
  for (let attempt = 0; attempt < 50; attempt++) {
    await untilAsync(stopped, `the throttle stops ${what}`);
    ferry.kill('SIGSTOP');
    await until(() => procStat(pid).state === 'T', 'ferry migrate is frozen');
    if (await stopped()) {
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

/** A cgroup v2 directory with the cpu controller that this process may create children in, or why not. */
export function cgroupV2WithCpu(): { root: string } | { reason: string } {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).filter((f) => f[2] === 'cgroup2');
  if (mounts.length === 0) return { reason: 'no cgroup v2 mount' };
  for (const [, root] of mounts) {
    const controllers = readFileSync(join(root!, 'cgroup.controllers'), 'utf8').split(/\s+/);
    if (!controllers.includes('cpu')) continue;
    try {
      writeFileSync(join(root!, 'cgroup.subtree_control'), '+cpu');
      return { root: root! };
    } catch (error) {
      return { reason: `cannot enable the cpu controller under ${root}: ${(error as Error).message}` };
    }
  }
  return { reason: `the cgroup v2 mount${mounts.length > 1 ? 's' : ''} (${mounts.map((m) => m[1]).join(', ')}) ${mounts.length > 1 ? 'lack' : 'lacks'} the cpu controller (it is bound to cgroup v1 here)` };
}
