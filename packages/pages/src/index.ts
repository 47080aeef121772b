export {
  createChunkHasher, createPageHasher, zeroPageHash, tableDigest, blockDigests, mismatchedRanges, type ChunkHasher, type PageHasher,
} from './hash.js';
export { isZeroPage, xorInto } from './bytes.js';
export { lz4Compress, lz4Decompress, PayloadError } from './lz4.js';
export { DeltaCache } from './delta-cache.js';
export { ContentIndex } from './content-index.js';
export { ImageFile, allocatedBytes } from './image-file.js';
export {
  looksIncompressible, newSampler, PageEncoder, RecordBatch, type BatchStats, type ByteSampler, type EncodeChoice, type EncoderTables,
} from './page-encoder.js';
export { adoptOutcome } from './scan-protocol.js';
export { ScanPool, type ScanPoolOptions, type PageBatch, type PassStats, type ScanScope } from './scan-pool.js';
export { LinkWatch } from './link-watch.js';
