/**
 * Data centres on loopback for the autopilot's tests: per DC a real `ferry source` (with a token) and a
 * real `ferry target` (loopback, no token), and a scenario document naming them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FERRY, type Teardown } from './ferry.js';

export const FLEET_TOKEN = 'autopilot-test-token';

export interface Daemon { readonly url: string; readonly child: ChildProcess }

/** Spawns `ferry ARGS` and resolves with the URL it prints once it listens. */
export async function daemon(t: Teardown, args: string[]): Promise<Daemon> {
  const child = spawn(process.execPath, [FERRY, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { event: string; url: string };
      if (event.event === 'listening') resolve(event.url);
    });
    child.once('exit', (code) => reject(new Error(`ferry ${args[0]} exited ${code}`)));
  });
  return { url, child };
}

export interface DataCentre { readonly name: string; readonly source: Daemon; readonly target: Daemon; readonly targetDir: string }

/** A source and a target daemon for each named DC, under `dir`; the token file is `dir/token`. */
export async function dataCentres(t: Teardown, dir: string, names: readonly string[]): Promise<{ dcs: DataCentre[]; tokenFile: string }> {
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, FLEET_TOKEN, { mode: 0o600 });
  const dcs = await Promise.all(names.map(async (name) => {
    const targetDir = join(dir, name, 'target');
    mkdirSync(targetDir, { recursive: true });
    const [source, target] = await Promise.all([
      daemon(t, ['source', '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--log-level', 'warn']),
      daemon(t, ['target', '--listen', '127.0.0.1:0', '--dir', targetDir]),
    ]);
    return { name, source, target, targetDir };
  }));
  return { dcs, tokenFile };
}

/** The scenario's data centres and autopilot block for running DCs (one node per DC, its zone named after it). */
export function wireScenario(doc: Record<string, unknown>, dcs: readonly DataCentre[], migrate: Record<string, unknown> = {}): Record<string, unknown> {
  const datacenters = (doc['datacenters'] as Array<Record<string, unknown>>).map((d) => {
    const dc = dcs.find((x) => x.name === d['name'])!;
    return { ...d, sourceUrl: dc.source.url, targetUrl: dc.target.url.replace(/^http/, 'ws') };
  });
  return { ...doc, datacenters, autopilot: { targetDirs: Object.fromEntries(dcs.map((dc) => [dc.name, dc.targetDir])), migrate } };
}
