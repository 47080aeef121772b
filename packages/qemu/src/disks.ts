/**
 * Which QEMU block node a `--disk NAME=NODE` means, and where its bytes live. NODE is a node-name
 * (`-blockdev ...,node-name=vda`) or a device id (`-drive ...,id=drive0`). A raw node over a file with
 * an absolute path is read from that file directly (the fastest way); any other node (qcow2, a raw node
 * over NBD, ...) has no file holding the guest's bytes as they are, so ferry reads it through QEMU
 * (see disk-view.ts).
 */
import type { QmpClient } from './qmp.js';

export interface DiskNode {
  /** The format node ferry tracks (dirty bitmaps and exports go on it). */
  readonly node: string;
  /** The raw image file the scan reads directly; undefined when only QEMU can present the guest's bytes. */
  readonly file: string | undefined;
  /** QEMU's format driver of the node (raw, qcow2, ...). */
  readonly format: string;
  /** The guest-visible size in bytes. */
  readonly size: number;
}

export class DiskLookupError extends Error {
  override readonly name = 'DiskLookupError';
}

export interface NamedNode {
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
  return describeNode(node, found);
}

/** Where a found node's bytes can be read: its raw file when it has one, else only through QEMU. */
export function describeNode(node: string, info: NamedNode): DiskNode {
  const nodeName = info['node-name'];
  if (!nodeName) throw new DiskLookupError(`disk '${node}' has no node name`);
  const size = info.image?.['virtual-size'];
  if (typeof size !== 'number' || size <= 0) throw new DiskLookupError(`disk '${node}' has no size in query-block`);
  const format = info.drv ?? 'unknown';
  const file = info.image?.filename ?? info.file;
  const direct = format === 'raw' && file !== undefined && file.startsWith('/');
  return { node: nodeName, file: direct ? file : undefined, format, size };
}
