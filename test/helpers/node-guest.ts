/**
 * The node guest (scripts/build-node-guest.sh): Debian's stock kernel under QEMU TCG, node and ferry
 * inside it, the checkout shared read-only over 9p. A script of the checkout runs as the guest's only
 * job; its serial console is the result. For what this host's kernel lacks (soft-dirty, the netem qdisc).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Teardown } from './ferry.js';
import { qemuMissing, QEMU } from './qemu.js';
import { REPO_ROOT, repoPath } from './repo.js';

export interface NodeGuest {
  readonly kernel: string;
  readonly initrd: string;
}

/** Why the node guest cannot run here (no QEMU, no kernel or modules, no busybox...), or the guest. */
export function nodeGuest(): NodeGuest | { readonly missing: string } {
  const qemu = qemuMissing();
  if (qemu !== undefined) return { missing: qemu };
  const build = spawnSync('bash', [repoPath('scripts', 'build-node-guest.sh')], { encoding: 'utf8' });
  if (build.status !== 0) return { missing: `scripts/build-node-guest.sh: ${build.stderr.trim() || `exit ${build.status}`}` };
  const dir = repoPath('.cache', 'node-guest');
  return { kernel: join(dir, 'kernel'), initrd: join(dir, 'initramfs.gz') };
}

export interface GuestRun {
  /** A script of the checkout (path relative to it) and its arguments (no spaces in them). */
  readonly script: string;
  readonly args: readonly (string | number)[];
  readonly ramMiB: number;
  readonly cpus?: number;
}

/** Boots the guest, runs the script, and resolves with the serial console once the guest powers off. */
export async function runInGuest(t: Teardown, guest: NodeGuest, run: GuestRun): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-node-guest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const serial = join(dir, 'serial.log');
  // no_timer_check: see guestArgs in ./qemu.ts (a loaded host can fail the kernel's boot-time timer check).
  const cmdline = ['console=ttyS0', 'quiet', 'no_timer_check', 'panic=-1', `ferry.run=/ferry/${run.script}`, ...run.args.map((a) => `ferry.arg=${a}`)].join(' ');
  const child = spawn(QEMU, [
    '-machine', 'pc', '-accel', 'tcg', '-smp', String(run.cpus ?? 2), '-m', `${run.ramMiB}M`,
    '-kernel', guest.kernel, '-initrd', guest.initrd, '-append', cmdline,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', `file:${serial}`,
    '-virtfs', `local,path=${REPO_ROOT.replaceAll(',', ',,')},mount_tag=ferry,security_model=none,readonly=on`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-4000); });
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const console = existsSync(serial) ? readFileSync(serial, 'utf8') : '';
  if (code !== 0) throw new Error(`QEMU exited ${code}: ${stderr}\n${console.slice(-3000)}`);
  return console;
}

/** The serial lines that start with `tag ` (e.g. SD-SUMMARY), without the tag, in order. */
export function taggedLines(console: string, tag: string): string[] {
  return console.split(/\r?\n/).filter((line) => line.startsWith(`${tag} `)).map((line) => line.slice(tag.length + 1));
}
