/**
 * The QMP socket below the client: connecting (retrying while QEMU has not created the socket yet) and
 * reading the greeting that QEMU sends first.
 */
import { createConnection, type Socket } from 'node:net';
import { QmpError } from './qmp-error.js';

export interface QmpGreeting {
  readonly version: { readonly major: number; readonly minor: number; readonly micro: number; readonly package: string };
  readonly capabilities: readonly string[];
}

/** No QMP line (greeting, answer, event) may be longer than this. */
export const MAX_LINE = 16 * 1024 * 1024;
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function openSocket(path: string, deadline: number): Promise<Socket> {
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = createConnection(path);
        socket.once('connect', () => {
          socket.off('error', reject);
          socket.on('error', () => {}); // reported through 'close'; keeps a stray error from throwing
          resolve(socket);
        });
        socket.once('error', reject);
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const retry = code === 'ENOENT' || code === 'ECONNREFUSED';
      if (!retry || Date.now() >= deadline) {
        throw new QmpError('closed', `cannot connect to ${path}: ${(error as Error).message}`, { cause: error });
      }
      await delay(50);
    }
  }
}

export function readGreeting(socket: Socket, path: string, deadline: number): Promise<{ greeting: QmpGreeting; rest: string }> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const finish = (error: QmpError | undefined, value?: { greeting: QmpGreeting; rest: string }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      if (error) reject(error);
      else if (value) resolve(value);
    };
    const onClose = () => finish(new QmpError('closed', `${path} closed before the QMP greeting`));
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const newline = buffer.indexOf('\n');
      if (newline < 0) {
        if (buffer.length > MAX_LINE) finish(new QmpError('protocol', 'QMP greeting too long'));
        return;
      }
      try {
        finish(undefined, { greeting: parseGreeting(buffer.slice(0, newline)), rest: buffer.slice(newline + 1) });
      } catch (error) {
        finish(error instanceof QmpError ? error : new QmpError('protocol', String(error)));
      }
    };
    const timer = setTimeout(() => finish(new QmpError('timeout', `no QMP greeting from ${path} (is another client connected to this QMP socket? QEMU serves one at a time)`)), Math.max(100, deadline - Date.now()));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}

function parseGreeting(line: string): QmpGreeting {
  const message: unknown = JSON.parse(line);
  const qmp = isObject(message) ? message['QMP'] : undefined;
  if (!isObject(qmp)) throw new QmpError('protocol', `not a QMP greeting: ${line.slice(0, 200)}`);
  const version = isObject(qmp['version']) && isObject(qmp['version']['qemu']) ? qmp['version']['qemu'] : {};
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  const pkg = isObject(qmp['version']) && typeof qmp['version']['package'] === 'string' ? qmp['version']['package'] : '';
  const capabilities = Array.isArray(qmp['capabilities']) ? qmp['capabilities'].filter((c): c is string => typeof c === 'string') : [];
  return { version: { major: num(version['major']), minor: num(version['minor']), micro: num(version['micro']), package: pkg }, capabilities };
}
