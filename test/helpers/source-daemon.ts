/**
 * A real `ferry source` daemon for attacks on its access rules: a token file only its user can read, an
 * allowed host name, and a request body an attacker would send (a pause command, a file to read).
 */
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FERRY, scratchDir } from './ferry.js';
import { http } from './http-probe.js';

export const SOURCE_TOKEN = 'source-access-test-token';
export const SOURCE_AUTH = { Authorization: `Bearer ${SOURCE_TOKEN}` };

/** `ferry source` on 127.0.0.1:0 with `args`; resolves with its URL once it listens. */
export async function spawnSource(t: Test, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [FERRY, 'source', '--listen', '127.0.0.1:0', '--log-level', 'silent', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as { event: string; url: string };
      if (event.event === 'listening') resolve(event.url);
    });
    child.once('exit', (code) => reject(new Error(`ferry source exited ${code}`)));
  });
}

export function tokenFile(dir: string, mode = 0o600): string {
  const path = join(dir, 'token');
  writeFileSync(path, `${SOURCE_TOKEN}\n`);
  chmodSync(path, mode);
  return path;
}

/** A source daemon with a token and the body of a hostile request; `noMigration()` checks that nothing started. */
export async function sourceUnderAttack(t: Test) {
  const dir = scratchDir(t);
  const token = tokenFile(dir);
  const url = await spawnSource(t, ['--token-file', token, '--allow-host', 'ferry-source.test']);
  const marker = join(dir, 'pause-ran');
  // What an attacker would ask for: a command run as the daemon's user, and a file it may read.
  const body = JSON.stringify({ to: 'ws://127.0.0.1:9', image: [`ram=${token}`], state: ['x=/etc/shadow'], 'pause-cmd': `touch ${marker}` });
  const noMigration = async (): Promise<void> => {
    const status = await http(`${url}/status`, 'GET', { Authorization: `Bearer ${SOURCE_TOKEN}` });
    t.same(JSON.parse(status.body), { role: 'source', migrations: [] }, 'no migration was started');
    t.notOk(existsSync(marker), 'the pause command never ran');
  };
  return { dir, token, url, body, noMigration, port: new URL(url).port };
}
