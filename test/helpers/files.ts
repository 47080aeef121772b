import { existsSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/** Resolves once `path` exists: an inotify watch on its directory, no polling. */
export function waitForFile(path: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dirname(path), (_event, name) => {
      if (name === basename(path) && existsSync(path)) done();
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`${path} did not appear within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      watcher.close();
      resolve();
    };
    if (existsSync(path)) done();
  });
}

/** The scheduler state of a process from /proc (R running, S sleeping, T stopped...). */
export async function processState(pid: number): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '?';
}
