/** What a process has cost so far, read from /proc: CPU time (user + system) and peak resident memory. */
import { readFileSync } from 'node:fs';

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
