import { MessageType } from './constants.js';
import { asFields, digest, uint, type Fields } from './fields.js';
import { checkBlobName } from './names.js';

/** Source -> target: a state blob (device state, config) of `size` bytes follows in STATE_CHUNKs. */
export interface State {
  readonly type: typeof MessageType.State;
  readonly name: string;
  readonly size: number;
}

/** Source -> target: raw blob bytes, binary (u8 type | bytes), for the blob opened by the last STATE. */
export interface StateChunk {
  readonly type: typeof MessageType.StateChunk;
  readonly data: Uint8Array;
}

/** Source -> target: the blob is complete; `xxh64` (hex) of all its bytes for the target to check. */
export interface StateEnd {
  readonly type: typeof MessageType.StateEnd;
  readonly name: string;
  readonly xxh64: string;
}

export const encodeState = (msg: State): Fields => ({ name: msg.name, size: msg.size });
export function decodeState(body: unknown): State {
  const f = asFields(body, 'STATE');
  return { type: MessageType.State, name: checkBlobName(f['name']), size: uint(f, 'size', 'STATE') };
}

export const encodeStateEnd = (msg: StateEnd): Fields => ({ name: msg.name, xxh64: msg.xxh64 });
export function decodeStateEnd(body: unknown): StateEnd {
  const f = asFields(body, 'STATE_END');
  return {
    type: MessageType.StateEnd,
    name: checkBlobName(f['name']),
    xxh64: digest(f, 'xxh64', 'STATE_END'),
  };
}
