/** What a process has cost so far, read from /proc: CPU time (user + system) and peak resident memory. */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports utime and stime in clock ticks; USER_HZ is 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

export interface ProcessCost {
  /** User + system CPU seconds since the process started. */
  readonly cpuSeconds: number;
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** Peak resident set (VmHWM) in bytes. */
  readonly peakRss: number;
}

/** The cost of process `pid` so far; undefined once it has exited. */
export function processCost(pid: number): ProcessCost | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const userSeconds = Number(fields[11]) / TICKS_PER_SECOND;
    const systemSeconds = Number(fields[12]) / TICKS_PER_SECOND;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuSeconds: userSeconds + systemSeconds, userSeconds, systemSeconds, peakRss: Number(hwm?.[1] ?? 0) * 1024 };
  } catch {
    return undefined;
  }
}

/** CPU spent between two readings (zero when either is missing). */
export const cpuBetween = (from: ProcessCost | undefined, to: ProcessCost | undefined): { user: number; system: number } =>
  from && to ? { user: to.userSeconds - from.userSeconds, system: to.systemSeconds - from.systemSeconds } : { user: 0, system: 0 };

/** One thread's scheduler counters: nanoseconds on a CPU and waiting for one (runnable, not running). */
export interface ThreadTimes {
  readonly name: string;
  readonly cpuNs: number;
  readonly waitNs: number;
}

/**
 * Every thread of `pid` by id, from /proc/<pid>/task/<tid>/schedstat: the split of a stage's wall time
 * into busy, runnable-but-preempted (a loaded machine) and idle (waiting on another stage).
 */
export function threadTimes(pid: number): Map<string, ThreadTimes> {
  const threads = new Map<string, ThreadTimes>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads;
  }
  for (const tid of tids) {
    try {
      const [cpu, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      threads.set(tid, { name: tid === String(pid) ? 'main' : name, cpuNs: Number(cpu), waitNs: Number(wait) });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return threads;
}

export interface ThreadSplit {
  readonly cpu: number;
  readonly wait: number;
}

/**
 * Busy and runnable-waiting seconds between two readings: the main thread, the busiest other thread (on
 * the source, its scan worker) and all the rest together (V8's GC helpers, libuv). Node 20 names every
 * thread "node", so the busiest one is told apart by its CPU alone.
 */
export function threadsBetween(from: Map<string, ThreadTimes>, to: Map<string, ThreadTimes>): { main: ThreadSplit; busiest: ThreadSplit; rest: ThreadSplit & { threads: number } } {
  const spent = [...to].map(([tid, end]) => {
    const start = from.get(tid);
    return { main: end.name === 'main', cpu: (end.cpuNs - (start?.cpuNs ?? 0)) / 1e9, wait: (end.waitNs - (start?.waitNs ?? 0)) / 1e9 };
  });
  const main = spent.find((t) => t.main) ?? { cpu: 0, wait: 0 };
  const others = spent.filter((t) => !t.main).sort((a, b) => b.cpu - a.cpu);
  const busiest = others[0] ?? { cpu: 0, wait: 0 };
  const rest = others.slice(1).reduce((sum, t) => ({ cpu: sum.cpu + t.cpu, wait: sum.wait + t.wait, threads: sum.threads + 1 }), { cpu: 0, wait: 0, threads: 0 });
  return { main: { cpu: main.cpu, wait: main.wait }, busiest: { cpu: busiest.cpu, wait: busiest.wait }, rest };
}
