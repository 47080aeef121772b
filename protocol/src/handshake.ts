import { MessageType } from './constants.js';
import { malformed } from './errors.js';
import { asFields, bool, list, str, uint, type Fields } from './fields.js';
import { DEFAULT_LIMITS, isValidPageSize } from './limits.js';
import { checkDistinctVariables, checkImageName, checkName } from './names.js';
import { checkVersion } from './version.js';

export interface ImageInfo {
  readonly name: string;
  readonly size: number;
  readonly pageSize: number;
}

/** Source -> target, first message. `resume` asks to continue a session the target still holds. */
export interface Hello {
  readonly type: typeof MessageType.Hello;
  readonly version: number;
  readonly migrationId: string;
  readonly images: readonly ImageInfo[];
  readonly resume: boolean;
  /**
   * With `resume`: the secret the target gave this source in WELCOME, proving the resuming connection
   * comes from the source that started the session. Absent on a first HELLO.
   */
  readonly sessionSecret?: string | undefined;
  /** Informational (policy, compression...), logged by the target; never drives behaviour there. */
  readonly options: Readonly<Record<string, string | number | boolean>>;
}

/**
 * Target -> source. `resumed` is true when the target already holds pages for this migration (it kept the
 * session across a cut, or starts from a --base copy of the image) and sends PAGE_TABLE messages next,
 * covering every page of every image; the source then sends only what differs.
 */
export interface Welcome {
  readonly type: typeof MessageType.Welcome;
  readonly version: number;
  readonly resumed: boolean;
  /** A secret for this session, known only to this connection: a resume must present it (HELLO.sessionSecret). Required since v2. */
  readonly sessionSecret: string;
  /**
   * The target ACKs once at least this many bytes arrived since its last ACK (besides every 32 PAGES
   * and each PASS_END), so the source can measure the link. Absent from older targets.
   */
  readonly ackEveryBytes?: number;
  /**
   * Every message byte the session had received before this connection (ACK's count when WELCOME left):
   * lines the ACKs' `bytesReceived` up with what the source sent on this connection. Sent with `ackEveryBytes`.
   */
  readonly bytesReceived?: number;
}

/** Bounds on WELCOME's `ackEveryBytes`: an ACK per 4 KiB at most (no flood of replies), per 64 MiB at least. */
export const MIN_ACK_EVERY_BYTES = 4096;
export const MAX_ACK_EVERY_BYTES = 64 * 1024 * 1024;

/** Session secrets are opaque text of at most this many characters. */
const MAX_SECRET_LENGTH = 128;

const optionalSecret = (f: Readonly<Record<string, unknown>>, what: string): { sessionSecret?: string } =>
  f['sessionSecret'] === undefined ? {} : { sessionSecret: str(f, 'sessionSecret', what, MAX_SECRET_LENGTH) };

const MAX_OPTIONS = 64;

export function encodeHello(msg: Hello): Fields {
  return {
    version: msg.version,
    migrationId: msg.migrationId,
    images: msg.images.map((i) => ({ name: i.name, size: i.size, pageSize: i.pageSize })),
    resume: msg.resume,
    ...(msg.sessionSecret !== undefined ? { sessionSecret: msg.sessionSecret } : {}),
    options: msg.options,
  };
}

export function decodeHello(body: unknown): Hello {
  const what = 'HELLO';
  const f = asFields(body, what);
  const images = list(f, 'images', what, DEFAULT_LIMITS.maxImages * 16).map((raw, index) => {
    const image = asFields(raw, `${what} image ${index}`);
    const pageSize = uint(image, 'pageSize', `${what} image ${index}`);
    if (!isValidPageSize(pageSize)) throw malformed(`${what} image ${index}: page size ${pageSize} is not a power of two from 512 to 1 MiB`);
    return {
      name: checkImageName(image['name']),
      size: uint(image, 'size', `${what} image ${index}`),
      pageSize,
    };
  });
  if (images.length === 0) throw malformed(`${what}: at least one image is required`);
  if (new Set(images.map((i) => i.name)).size !== images.length) throw malformed(`${what}: image names must be unique`);
  checkDistinctVariables(images.map((i) => i.name), 'FERRY_IMAGE_', `${what}: images`);
  return {
    type: MessageType.Hello,
    version: uint(f, 'version', what, 0xffff),
    migrationId: checkName(f['migrationId'], 'migration id'),
    images,
    resume: bool(f, 'resume', what),
    ...optionalSecret(f, what),
    options: decodeOptions(f['options']),
  };
}

function decodeOptions(raw: unknown): Record<string, string | number | boolean> {
  const f = asFields(raw ?? {}, 'HELLO options');
  const entries = Object.entries(f);
  if (entries.length > MAX_OPTIONS) throw malformed(`HELLO options: at most ${MAX_OPTIONS} entries`);
  const options: Record<string, string | number | boolean> = {};
  for (const [key, value] of entries) {
    if (typeof value === 'number' || typeof value === 'boolean') options[key] = value;
    else options[key] = str(f, key, 'HELLO options', 1024);
  }
  return options;
}

export const encodeWelcome = (msg: Welcome): Fields => ({
  version: msg.version, resumed: msg.resumed, sessionSecret: msg.sessionSecret,
  ...(msg.ackEveryBytes !== undefined ? { ackEveryBytes: msg.ackEveryBytes } : {}),
  ...(msg.bytesReceived !== undefined ? { bytesReceived: msg.bytesReceived } : {}),
});

/** The ACK cadence and the count it starts from come together, or not at all (an older target). */
function ackCadence(f: Fields, what: string): { ackEveryBytes?: number; bytesReceived?: number } {
  if (f['ackEveryBytes'] === undefined && f['bytesReceived'] === undefined) return {};
  const ackEveryBytes = uint(f, 'ackEveryBytes', what, MAX_ACK_EVERY_BYTES);
  if (ackEveryBytes < MIN_ACK_EVERY_BYTES) throw malformed(`${what}: ackEveryBytes must be at least ${MIN_ACK_EVERY_BYTES}, got ${ackEveryBytes}`);
  return { ackEveryBytes, bytesReceived: uint(f, 'bytesReceived', what) };
}

/**
 * The version is checked before the other fields: a target of another version may lay WELCOME out
 * differently (v1 could leave out the secret), and its user needs the version error, not a field error.
 */
export function decodeWelcome(body: unknown): Welcome {
  const f = asFields(body, 'WELCOME');
  const version = uint(f, 'version', 'WELCOME', 0xffff);
  checkVersion(version, 'target');
  return {
    type: MessageType.Welcome,
    version,
    resumed: bool(f, 'resumed', 'WELCOME'),
    sessionSecret: str(f, 'sessionSecret', 'WELCOME', MAX_SECRET_LENGTH),
    ...ackCadence(f, 'WELCOME'),
  };
}
