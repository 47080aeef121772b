/**
 * A raw protocol client for a real `ferry target` process: hostile and unlucky sources are written with
 * it message by message. Also reads the target's peak RSS from /proc.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import {
  decodeMessage, encodeControl, MessageType, PROTOCOL_VERSION, type ImageInfo, type Message,
} from '@ferry/protocol';
import { FERRY, type Teardown } from './ferry.js';
import { clientFrame, Op } from './ws-frame.js';

export interface TargetProcess {
  readonly url: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  stderr(): string;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRss(): number;
}

/** `ferry target` (not --once) on 127.0.0.1:0, killed when the test ends. */
export async function spawnTarget(t: Teardown, dir: string, extra: string[] = []): Promise<TargetProcess> {
  const child = spawn(process.execPath, [FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', dir, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-40000); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => void child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url?: string };
        if (event.event === 'listening' && event.url) resolve(event.url);
      } catch {
        // not JSON
      }
    });
    void exited.then((code) => reject(new Error(`target exited ${code}: ${stderr}`)));
  });
  return { url, pid: child.pid!, exited, stderr: () => stderr, peakRss: () => peakRss(child.pid!) };
}

export function peakRss(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

export interface Client {
  readonly ws: WebSocket;
  next(timeoutMs?: number): Promise<Message>;
  /** Resolves with the close code once the target closed the connection. */
  readonly closed: Promise<number>;
  send(message: Uint8Array): void;
  /**
   * Sends the messages in one socket write, so the target reads them together: what it checks as a
   * message arrives (an early GO) is then checked before it can act on the ones before.
   */
  sendTogether(messages: Uint8Array[]): void;
}

/** Opens /migrate (with the token, when given) and says HELLO; messages from the target are read in order with next(). */
export async function helloClient(url: string, hello: { id: string; images: ImageInfo[]; resume?: boolean; sessionSecret?: string; token?: string }): Promise<Client> {
  const ws = new WebSocket(`${url}/migrate`, hello.token === undefined ? {} : { headers: { authorization: `Bearer ${hello.token}` } });
  const queue: Message[] = [];
  const waiting: Array<(m: Message) => void> = [];
  ws.on('message', (data: Buffer) => {
    const message = decodeMessage(new Uint8Array(data));
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(encodeControl({
    type: MessageType.Hello, version: PROTOCOL_VERSION, migrationId: hello.id, resume: hello.resume ?? false, options: {},
    images: hello.images, ...(hello.sessionSecret !== undefined ? { sessionSecret: hello.sessionSecret } : {}),
  }));
  const next = (timeoutMs = 30_000): Promise<Message> => {
    const queued = queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message from the target in time')), timeoutMs);
      waiting.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  };
  // ws writes each frame at once when nothing is queued; corking its socket holds them for one write.
  const socket = (ws as unknown as { _socket: Socket })._socket;
  const sendTogether = (messages: Uint8Array[]): void => {
    socket.cork();
    for (const message of messages) ws.send(message);
    socket.uncork();
  };
  return { ws, next, closed, send: (message) => ws.send(message), sendTogether };
}

/** The secret a WELCOME carried (throws when the message is not a WELCOME). */
export function secretOf(message: Message): string {
  if (message.type !== MessageType.Welcome || message.sessionSecret === undefined) throw new Error(`expected WELCOME with a secret, got ${JSON.stringify(message)}`);
  return message.sessionSecret;
}

/**
 * A WebSocket client that completes the upgrade and sends one binary message, then never reads again:
 * what the target sends piles up in the kernel's buffers and then in the target, if it lets it.
 */
export async function sendAndStopReading(url: string, message: Uint8Array): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`GET /migrate HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.write(clientFrame(Op.Binary, message, { mask: new Uint8Array(4) })); // a zero mask: the payload goes as is
  socket.pause();
  return socket;
}
