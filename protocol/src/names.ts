/**
 * Names a source chooses (migration ids, image and state blob names) and what the target makes of them:
 * a path component in DIR/<id>/ and a variable name in the --on-commit environment. Checked here, once,
 * so that every name that reaches a file or an environment is one of these.
 *
 *   name      = first rest{0,63}     first = A-Z a-z 0-9 . _      rest = first | -
 *               not "." or ".."      (a leading - would read as an option in a hook's command line)
 *   image     = name, not one of the target's own files in DIR/<id>/ and not ending in .partial (in any case)
 *   blob      = name, not ending in .partial in any case (its file in DIR/<id>/state/ before the commit)
 *   variable  = the name upper-cased, every character other than A-Z 0-9 as _ (ram -> RAM, vm.disk -> VM_DISK);
 *               two images (or two blobs) of one migration must not give the same variable
 */
import { malformed } from './errors.js';

const NAME_PATTERN = /^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/;
const RULE = 'use 1-64 of A-Z a-z 0-9 . _ -, not starting with - (and not "." or "..")';

/** What a QEMU launched by `ferry target --qemu-cmd` makes in DIR/<migrationId>/: its log, its monitor socket, the socket its device state is fed through. */
export const QEMU_LAUNCH_FILES = { log: 'qemu.log', monitor: 'qmp.sock', deviceState: 'qemu-state.sock' } as const;

/** What the target names its own files in DIR/<migrationId>/, its QEMU's among them. */
const TARGET_FILES: ReadonlySet<string> = new Set(['state', 'manifest.json', 'manifest.json.tmp', ...Object.values(QEMU_LAUNCH_FILES)]);
const PARTIAL = '.partial';

export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name) && name !== '.' && name !== '..';
}

export function checkName(name: unknown, what: string): string {
  if (!isValidName(name)) throw malformed(`${what} ${JSON.stringify(name)} is not allowed: ${RULE}`);
  return name;
}

/**
 * Compared in lower case: on a case-insensitive --dir (ext4 casefold, vfat, SMB) `STATE` or
 * `Manifest.JSON` is the target's own file, and `ram.PARTIAL` is image ram's partial file.
 */
const isReserved = (name: string): boolean => TARGET_FILES.has(name.toLowerCase()) || name.toLowerCase().endsWith(PARTIAL);

/** An image name: a valid name that is not one of the target's own files and has no `.partial` suffix. */
export function checkImageName(name: unknown): string {
  const valid = checkName(name, 'image name');
  if (isReserved(valid)) {
    throw malformed(`image name ${JSON.stringify(valid)} is reserved: the target names its own files ${[...TARGET_FILES].join(', ')} and *${PARTIAL} in the migration's folder`);
  }
  return valid;
}

/** A state blob name: a valid name without the `.partial` suffix its file carries until the commit. */
export function checkBlobName(name: unknown): string {
  const valid = checkName(name, 'state blob name');
  if (valid.toLowerCase().endsWith(PARTIAL)) throw malformed(`state blob name ${JSON.stringify(valid)} is reserved: it ends in ${PARTIAL}`);
  return valid;
}

/** The part of an environment variable a name becomes: FERRY_IMAGE_<this>, FERRY_STATE_<this>. */
export const variableOf = (name: string): string => name.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/** Refuses two names that would give one variable (`prefix` names the variable in the message). */
export function checkDistinctVariables(names: readonly string[], prefix: string, what: string): void {
  const seen = new Map<string, string>();
  for (const name of names) {
    const variable = variableOf(name);
    const earlier = seen.get(variable);
    if (earlier !== undefined) {
      throw malformed(`${what} ${JSON.stringify(earlier)} and ${JSON.stringify(name)} would both be ${prefix}${variable} in the target's --on-commit environment: rename one`);
    }
    seen.set(variable, name);
  }
}
