import { checkImageGeometry, checkVersion, decodeMessage, ErrorCode, FerryError, malformed, MessageType, type Hello, type Limits } from '@ferry/protocol';

/**
 * Decodes and checks the first message of a connection against this target's limits. The names (valid,
 * distinct, none of the target's own files, one variable each) were checked by the protocol's decoder.
 */
export function acceptHello(data: Uint8Array, limits: Limits): Hello {
  const message = decodeMessage(data);
  if (message.type !== MessageType.Hello) throw new FerryError(ErrorCode.UnexpectedMessage, `the first message must be HELLO, got type ${message.type}`);
  checkVersion(message.version, 'source');
  if (message.images.length === 0) throw malformed('HELLO lists no images');
  if (message.images.length > limits.maxImages) throw new FerryError(ErrorCode.Limit, `${message.images.length} images; this target accepts at most ${limits.maxImages}`);
  for (const image of message.images) checkImageGeometry(image.name, image.size, image.pageSize, limits);
  return message;
}
