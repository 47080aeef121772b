/**
 * Where a cgroup keeps its CPU bandwidth limit, for either cgroup version: v2's `cpu.max` ("QUOTA PERIOD"
 * or "max PERIOD") and v1's `cpu.cfs_quota_us` (-1 for none, beside `cpu.cfs_period_us`). Both are the
 * kernel's CFS bandwidth control; only the files differ. Hosts that still mount the cpu controller on
 * cgroup v1 (hybrid layouts) get the same throttle as v2 ones.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ThrottleSetupError } from './driver.js';
import { statFieldsAfterName } from './proc-stat.js';

/** cgroup v2's default period, microseconds. */
const V2_PERIOD_US = 100_000;
/** Linux reports /proc/PID/stat times in USER_HZ ticks, 100 per second on every common architecture. */
const USER_HZ = 100;

export interface CpuLimitFiles {
  /** The file a limit is written to; writing back what it held at start lifts the limit. */
  readonly file: string;
  readonly periodUs: number;
  /** The file's content for a quota of `quotaUs` per period. */
  limit(quotaUs: number): string;
  /** CPU time the cgroup's processes have used, microseconds (compared between two moments). */
  usageUs(): number;
}

export function cpuLimitFiles(dir: string): CpuLimitFiles {
  if (existsSync(join(dir, 'cpu.max'))) {
    return {
      file: join(dir, 'cpu.max'),
      periodUs: V2_PERIOD_US,
      limit: (quotaUs) => `${quotaUs} ${V2_PERIOD_US}`,
      usageUs: () => Number(/^usage_usec (\d+)$/m.exec(readOrUsage(join(dir, 'cpu.stat'), dir))?.[1] ?? 0),
    };
  }
  if (existsSync(join(dir, 'cpu.cfs_quota_us'))) {
    return {
      file: join(dir, 'cpu.cfs_quota_us'),
      periodUs: Number(readOrUsage(join(dir, 'cpu.cfs_period_us'), dir).trim()),
      limit: (quotaUs) => String(quotaUs),
      usageUs: () => processTimesUs(dir),
    };
  }
  throw new ThrottleSetupError(`${dir} is not a cgroup directory of the cpu controller: cgroup v2 with cpu.max, or v1 with cpu.cfs_quota_us (${describe(dir)})`);
}

/** v1's cpu hierarchy has no usage counter of its own (cpuacct may be mounted elsewhere): sum its processes' times. */
function processTimesUs(dir: string): number {
  let ticks = 0;
  for (const pid of readOrUsage(join(dir, 'cgroup.procs'), dir).split('\n').filter(Boolean)) {
    try {
      // utime is field 14, stime field 15.
      const fields = statFieldsAfterName(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process exited between the two reads
    }
  }
  return (ticks * 1_000_000) / USER_HZ;
}

function readOrUsage(path: string, dir: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ThrottleSetupError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

function describe(dir: string): string {
  try {
    return `it holds ${readdirSync(dir).filter((name) => name.startsWith('cpu')).join(', ') || 'no cpu files'}`;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}
