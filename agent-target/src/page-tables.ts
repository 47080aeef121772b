import { encodeControl, MessageType, PAGE_TABLE_CHUNK_PAGES } from '@ferry/protocol';
import type { ImageSink } from './image-sink.js';

interface TableSender {
  send(message: Uint8Array): Promise<void>;
}

/**
 * Streams every image's page table as PAGE_TABLE messages, one at a time: the next chunk is encoded only
 * once the previous one was handed to the socket, so a source that does not read holds at most one chunk
 * of the target's memory. Stops as soon as `stillAttached` says the connection was replaced or dropped.
 * `prepare` makes the pages up to `end` what the next chunk describes (seeding them from a base).
 */
export async function sendPageTables(
  peer: TableSender,
  images: readonly ImageSink[],
  stillAttached: () => boolean,
  onSent: () => void,
  prepare: (image: number, end: number) => Promise<void> = async () => {},
): Promise<void> {
  for (const [image, sink] of images.entries()) {
    for (let first = 0; first < sink.pageCount; first += PAGE_TABLE_CHUNK_PAGES) {
      if (!stillAttached()) return;
      const end = Math.min(sink.pageCount, first + PAGE_TABLE_CHUNK_PAGES);
      await prepare(image, end);
      if (!stillAttached()) return;
      const hashes = new Uint8Array((end - first) * 8);
      let at = 0;
      for (const piece of sink.hashes.pieces(first, end)) {
        hashes.set(piece, at);
        at += piece.length;
      }
      await peer.send(encodeControl({ type: MessageType.PageTable, image, firstPage: first, hashes }));
      onSent();
    }
  }
}
