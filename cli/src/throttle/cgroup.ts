/**
 * --cgroup PATH: throttles the workload's cgroup v2 through cpu.max, the kernel's own CPU bandwidth
 * limit (no stop/continue, no stalls longer than the kernel's period). A level takes that share of the
 * CPU the cgroup used while it ran free (cpu.stat usage_usec between start and the first step), so a
 * one-thread writer on a many-core host is slowed from the first step, not only past 1/cores.
 * The cpu.max found at start is written back on restore; that write is also the undo step the guardian
 * and `ferry recover` run after a crash of ferry.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../usage.js';
import type { ThrottleDriver } from '@ferry/agent-source';
import type { UndoStep } from './undo.js';

/** cgroup v2's default period, microseconds. */
const PERIOD_US = 100_000;
/** The kernel refuses quotas under 1 ms. */
const MIN_QUOTA_US = 1000;

export function cgroupThrottle(dir: string, now: () => number = () => performance.now()): { driver: ThrottleDriver; undo: UndoStep } {
  const cpuMax = join(dir, 'cpu.max');
  const original = readOrUsage(cpuMax, dir).trim();
  const usageAt = (): number => Number(/^usage_usec (\d+)$/m.exec(readOrUsage(join(dir, 'cpu.stat'), dir))?.[1] ?? 0);
  try {
    writeFileSync(cpuMax, original);
  } catch (error) {
    throw new UsageError(`--cgroup ${dir}: cpu.max is not writable (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const start = { usageUs: usageAt(), at: now() };
  let cpusUsed: number | undefined;
  let limited = false;
  const put = (): void => {
    writeFileSync(cpuMax, original);
    limited = false;
  };
  const driver: ThrottleDriver = {
    name: `cgroup ${dir}`,
    async set(level) {
      if (level <= 0) return put();
      // Measured once, before the first step: later samples would be throttled ones.
      cpusUsed ??= Math.max(0.01, (usageAt() - start.usageUs) / ((now() - start.at) * 1000));
      const quota = Math.max(MIN_QUOTA_US, Math.round(cpusUsed * PERIOD_US * (1 - Math.min(99, level) / 100)));
      writeFileSync(cpuMax, `${quota} ${PERIOD_US}`);
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

function readOrUsage(path: string, dir: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--cgroup ${dir} needs a cgroup v2 directory with the cpu controller (${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}
