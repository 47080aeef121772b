import { resolve } from 'node:path';

const TARGET_FOLDER = 'the target folder';

/** A folder or file of the target's operator, and what a source is told in its place. */
export interface PrivatePath {
  readonly path: string;
  readonly as: string;
}

/**
 * The operator's paths for `publicMessage`: the target's --dir (a path under it is told relative to it:
 * `<id>/<image>.partial`, names the source chose) and each --base file.
 */
export function privatePaths(dir: string, bases: readonly string[]): PrivatePath[] {
  const forms = (path: string): string[] => [...new Set([path, resolve(path)])];
  return [
    ...forms(dir).map((path) => ({ path, as: TARGET_FOLDER })),
    ...bases.flatMap(forms).map((path) => ({ path, as: 'a --base file' })),
  ];
}

/**
 * An error's text as a source may read it: the source knows migration ids and image names, not where
 * the target keeps them, so the operator's paths are taken out (the target's log keeps the whole
 * text). Node's own errors name the paths of their system calls, and every message that crosses the
 * wire to a source passes here, whoever built it.
 */
export function publicMessage(text: string, paths: readonly PrivatePath[]): string {
  const longestFirst = paths.filter((p) => p.path.length > 1).sort((a, b) => b.path.length - a.path.length);
  let out = text;
  for (const { path, as } of longestFirst) {
    const folder = path.endsWith('/') ? path : `${path}/`;
    out = out.split(folder).join(as === TARGET_FOLDER ? '' : `${as}/`).split(path).join(as);
  }
  return out;
}
