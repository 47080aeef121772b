/**
 * Records what a real `ferry migrate` sends: a WebSocket proxy between it and a real target keeps every
 * frame from the source, in order. The recordings are what the fuzzer mutates.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { fillImage } from '@ferry/workload';
import { FERRY } from '../helpers/ferry.js';

export type Recording = readonly Uint8Array[];

/** Proxies /migrate to `targetUrl`, recording the source's frames; resolves with the proxy's URL. */
async function recordingProxy(targetUrl: string, frames: Uint8Array[]): Promise<{ url: string; close(): void }> {
  const server = createServer();
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 * 1024 });
  wss.on('connection', (client) => {
    const upstream = new WebSocket(`${targetUrl}/migrate`, { maxPayload: 64 * 1024 * 1024 });
    const early: Buffer[] = [];
    upstream.on('open', () => { for (const frame of early.splice(0)) upstream.send(frame); });
    client.on('message', (data: Buffer) => {
      frames.push(new Uint8Array(data));
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data);
      else early.push(data);
    });
    upstream.on('message', (data: Buffer) => client.readyState === WebSocket.OPEN && client.send(data));
    upstream.on('close', () => client.close());
    client.on('close', () => upstream.close());
    upstream.on('error', () => client.terminate());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, close: () => { wss.close(); server.close(); } };
}

function run(args: string[]): Promise<number | null> {
  const child = spawn(process.execPath, [FERRY, ...args], { stdio: ['ignore', 'ignore', 'ignore'] });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * One real migration of a small mixed-content image (and a state blob) per size, through the proxy to
 * a `--once` target in `scratch`. Returns the source's frames of each. The last one goes under a slow
 * --rate-limit, so its pages go as PAGES_PACKED.
 */
export async function recordSessions(scratch: string, targetUrlFor: (dir: string) => Promise<string>): Promise<Recording[]> {
  const recordings: Recording[] = [];
  const sessions: Array<[number, string[]]> = [[128 * 1024, []], [256 * 1024, []], [256 * 1024, ['--rate-limit', '20MB/s']]];
  for (const [index, [size, flags]] of sessions.entries()) {
    const image = join(scratch, `rec-${index}.ram`);
    const state = join(scratch, `rec-${index}.state`);
    await fillImage(image, size, { seed: 11 + index });
    writeFileSync(state, Buffer.from('device state '.repeat(300)));
    const frames: Uint8Array[] = [];
    const proxy = await recordingProxy(await targetUrlFor(join(scratch, `rec-target-${index}`)), frames);
    const code = await run(['migrate', '--to', proxy.url, '--id', `rec-${index}`, '--image', `ram=${image}`, '--state', `dev=${state}`, '--workers', '1', '--json', ...flags]);
    proxy.close();
    if (code !== 0) throw new Error(`recording migration ${index} exited ${code}`);
    recordings.push(frames);
  }
  return recordings;
}
