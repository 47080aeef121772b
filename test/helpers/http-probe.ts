/**
 * Raw HTTP requests and WebSocket upgrades against the daemons, with whatever Host and Origin an
 * attacker's browser would send (fetch does not let a caller set Host).
 */
import { request } from 'node:http';
import { WebSocket } from 'ws';

export interface Answer {
  readonly status: number;
  readonly body: string;
}

/** A raw HTTP request, so that Host and Origin can be whatever an attacker's browser would send. */
export function http(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: pathname, method, headers, setHost: !('Host' in headers) }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens a WebSocket and resolves with the HTTP status of its answer: 101 when it opened. */
export function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => { ws.terminate(); resolve(101); });
    ws.once('unexpected-response', (_req, res) => { ws.terminate(); resolve(res.statusCode ?? 0); });
    ws.once('error', reject);
  });
}
