import { checkImageGeometry, checkVersion, decodeMessage, ErrorCode, FerryError, malformed, MessageType, type Hello, type Limits } from '@ferry/protocol';

/** Names that would collide with the target's own files in DIR/<migrationId>/. */
const RESERVED = new Set(['state', 'manifest.json', 'manifest.json.tmp']);

/** Decodes and checks the first message of a connection against this target's limits. */
export function acceptHello(data: Uint8Array, limits: Limits): Hello {
  const message = decodeMessage(data);
  if (message.type !== MessageType.Hello) throw new FerryError(ErrorCode.UnexpectedMessage, `the first message must be HELLO, got type ${message.type}`);
  checkVersion(message.version, 'source');
  if (message.images.length === 0) throw malformed('HELLO lists no images');
  if (message.images.length > limits.maxImages) throw new FerryError(ErrorCode.Limit, `${message.images.length} images; this target accepts at most ${limits.maxImages}`);
  const names = new Set<string>();
  for (const image of message.images) {
    if (RESERVED.has(image.name) || image.name.endsWith('.partial')) throw malformed(`image name ${image.name} is reserved on the target`);
    if (names.has(image.name)) throw malformed(`image ${image.name} is listed twice`);
    names.add(image.name);
    checkImageGeometry(image.name, image.size, image.pageSize, limits);
  }
  return message;
}
