import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /^[+/0-9A-Za-z]{22}==$/;

export type UpgradeCheck =
  | { readonly ok: true; readonly response: string }
  | { readonly ok: false; readonly status: number; readonly message: string };

/**
 * The server's half of the WebSocket opening handshake (RFC 6455, section 4.2), for a request that has
 * already passed authorize(): the same checks `ws` makes, and the 101 response to write. No subprotocol
 * and no extension is ever agreed, so none is named in the answer.
 */
export function checkWebSocketUpgrade(method: string | undefined, headers: IncomingHttpHeaders): UpgradeCheck {
  if (method !== 'GET') return { ok: false, status: 405, message: 'a WebSocket upgrade must be a GET' };
  if (headers.upgrade?.toLowerCase() !== 'websocket') return { ok: false, status: 400, message: 'invalid Upgrade header' };
  const key = headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) return { ok: false, status: 400, message: 'missing or invalid Sec-WebSocket-Key header' };
  const version = headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return { ok: false, status: 400, message: 'missing or invalid Sec-WebSocket-Version header (13)' };
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  return { ok: true, response: `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n` };
}
