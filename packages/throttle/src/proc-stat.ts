/**
 * /proc/PID/stat, read the one way ferry reads it: the throttle (a --throttle-pid process's start time
 * and a v1 cgroup's usage) and the journal (is the `ferry migrate` it names still that process?). A
 * module of its own, importing nothing, so the throttle's guardian process loads only this (and the
 * package exports it as `@ferry/throttle/proc-stat`, for the agent's journal).
 */
import { readFileSync } from 'node:fs';

/**
 * The fields of /proc/PID/stat after the command name, from field 3 (state) on: index i is field i + 3.
 * The command name (field 2) may hold spaces and parentheses, so fields are counted after the last ')'.
 */
export function statFieldsAfterName(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The start time (clock ticks after boot, field 22) in the text of /proc/PID/stat, or undefined. */
export function startTimeOf(stat: string): string | undefined {
  const value = statFieldsAfterName(stat)[19];
  return value !== undefined && /^\d+$/.test(value) ? value : undefined;
}

/** When process `pid` started, or undefined when there is no such process (or /proc does not show it). */
export function processStartTime(pid: number): string | undefined {
  try {
    return startTimeOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}
