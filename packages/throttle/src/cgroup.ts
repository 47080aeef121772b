/**
 * A cgroup's throttle (--cgroup PATH): throttles the workload's cgroup through the kernel's own CPU bandwidth limit (cgroup
 * v2 cpu.max or v1 cpu.cfs_quota_us, see cpu-limit.ts): no stop/continue, no stalls longer than the
 * kernel's period. A level takes that share of the CPU the cgroup used while it ran free (between start
 * and the first step), so a one-thread writer on a many-core host is slowed from the first step, not
 * only past 1/cores. The limit found at start is written back on restore; that write is also the undo
 * step the guardian and `ferry recover` run after a crash of ferry.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ThrottleSetupError, type Throttle } from './driver.js';
import { cpuLimitFiles } from './cpu-limit.js';
import type { UndoStep } from './undo.js';

/** The kernel refuses quotas under 1 ms. */
const MIN_QUOTA_US = 1000;

export function cgroupThrottle(dir: string, now: () => number = () => performance.now()): { driver: Throttle; undo: UndoStep } {
  const files = cpuLimitFiles(dir);
  const cpuMax = files.file;
  const original = readFileSync(cpuMax, 'utf8').trim();
  try {
    writeFileSync(cpuMax, original);
  } catch (error) {
    throw new ThrottleSetupError(`${cpuMax} is not writable (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const start = { usageUs: files.usageUs(), at: now() };
  let cpusUsed: number | undefined;
  let limited = false;
  const put = (): void => {
    writeFileSync(cpuMax, original);
    limited = false;
  };
  const driver: Throttle = {
    name: `cgroup ${dir}`,
    async set(level) {
      if (level <= 0) return put();
      // Measured once, before the first step: later samples would be throttled ones.
      cpusUsed ??= Math.max(0.01, (files.usageUs() - start.usageUs) / ((now() - start.at) * 1000));
      const quota = Math.max(MIN_QUOTA_US, Math.round(cpusUsed * files.periodUs * (1 - Math.min(99, level) / 100)));
      writeFileSync(cpuMax, files.limit(quota));
      limited = true;
    },
    async restore() {
      if (limited) put();
    },
    // cpu.max slows the paused workload no further; it is put back by restore() at the end.
    async hold() {},
  };
  return { driver, undo: { kind: 'cpu-max', file: cpuMax, value: original } };
}
