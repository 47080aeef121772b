import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from './constants.js';
import { ErrorCode, FerryError } from './errors.js';

/** The first check either side makes: a peer's version must be in MIN..CURRENT. */
export function checkVersion(peerVersion: number, peer: 'source' | 'target'): void {
  if (peerVersion < MIN_PROTOCOL_VERSION || peerVersion > PROTOCOL_VERSION) {
    const accepted = MIN_PROTOCOL_VERSION === PROTOCOL_VERSION ? `${PROTOCOL_VERSION}` : `${MIN_PROTOCOL_VERSION} to ${PROTOCOL_VERSION}`;
    throw new FerryError(
      ErrorCode.Version,
      `the ${peer} speaks ferry protocol ${peerVersion}, this side speaks ${accepted}: run the same ferry version on both hosts`,
    );
  }
}
