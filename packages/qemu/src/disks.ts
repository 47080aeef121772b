/**
 * Which QEMU block node a `--disk NAME=NODE` means, and where its bytes live. NODE is a node-name
 * (`-blockdev ...,node-name=vda`) or a device id (`-drive ...,id=drive0`). ferry reads a disk's data
 * from its file, so the node must be a raw format node over a file given by an absolute path.
 */
import type { QmpClient } from './qmp.js';

export interface DiskNode {
  /** The format node ferry tracks (dirty bitmaps and exports go on it). */
  readonly node: string;
  /** The image file, read directly by the scan. */
  readonly file: string;
  readonly size: number;
}

export class DiskLookupError extends Error {
  override readonly name = 'DiskLookupError';
}

interface NamedNode {
  readonly 'node-name'?: string;
  readonly drv?: string;
  readonly file?: string;
  readonly image?: { readonly 'virtual-size'?: number; readonly filename?: string };
}

interface BlockInfo {
  readonly device?: string;
  readonly qdev?: string;
  readonly inserted?: NamedNode;
}

/** Resolves NODE through query-block (devices) and query-named-block-nodes (node names). */
export async function resolveDisk(qmp: QmpClient, node: string): Promise<DiskNode> {
  const blocks = await qmp.execute<BlockInfo[]>('query-block');
  const named = await qmp.execute<NamedNode[]>('query-named-block-nodes', { flat: true });
  const byDevice = blocks.find((b) => b.inserted && (b.device === node || b.qdev === node))?.inserted;
  const found = byDevice ?? named.find((n) => n['node-name'] === node);
  if (!found) {
    const known = [
      ...blocks.filter((b) => b.inserted).map((b) => `${b.device || b.qdev || '?'} (node ${b.inserted?.['node-name'] ?? '?'})`),
      ...named.map((n) => n['node-name']).filter((n): n is string => typeof n === 'string' && !n.startsWith('#')),
    ];
    throw new DiskLookupError(`QEMU has no block device or node '${node}' (query-block shows: ${known.length > 0 ? [...new Set(known)].join(', ') : 'none'})`);
  }
  return checkReadable(node, found);
}

function checkReadable(node: string, info: NamedNode): DiskNode {
  const nodeName = info['node-name'];
  if (!nodeName) throw new DiskLookupError(`disk '${node}' has no node name`);
  if (info.drv !== 'raw') throw new DiskLookupError(`disk '${node}' is ${info.drv ?? 'of an unknown format'}; ferry migrates raw disks (convert with qemu-img convert -O raw)`);
  const file = info.image?.filename ?? info.file;
  if (!file || !file.startsWith('/')) throw new DiskLookupError(`disk '${node}' is not a file with an absolute path (${file ?? 'none'}); ferry reads the disk's file directly`);
  const size = info.image?.['virtual-size'];
  if (typeof size !== 'number' || size <= 0) throw new DiskLookupError(`disk '${node}' has no size in query-block`);
  return { node: nodeName, file, size };
}
