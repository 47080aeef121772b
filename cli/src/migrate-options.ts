/**
 * The I/O half of reading `ferry migrate`'s flags: the host's defaults for the plan (migrate-plan.ts),
 * then the files the plan names (the token and TLS material) and a check that --dirty-pid is a process
 * this user may signal. Everything here is a usage error before anything connects, and for `ferry
 * source` a 400.
 */
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { defaultStateDir, type MigrateOptions } from '@ferry/agent-source';
import { parseMigratePlan, type MigrateArgs, type MigratePlan, type PlanDefaults } from './migrate-plan.js';
import { readFileOrUsage, readToken } from './token-file.js';
import { UsageError } from './usage.js';

export interface MigrateRequest {
  readonly plan: MigratePlan;
  readonly options: MigrateOptions;
}

/** The flags as a plan and the agent's options, with every named file read. */
export function readMigrateRequest(args: MigrateArgs): MigrateRequest {
  const plan = parseMigratePlan(args, hostDefaults());
  if (plan.dirtyLog.pid !== undefined) checkSignallable(plan.dirtyLog.pid, '--dirty-pid');
  const { files } = plan;
  const options: MigrateOptions = {
    ...plan.transfer,
    token: files.token !== undefined ? readToken(files.token) : undefined,
    ca: files.ca !== undefined ? readFileOrUsage(files.ca, '--ca') : undefined,
    clientCert: files.clientCert !== undefined ? readFileOrUsage(files.clientCert, '--tls-client-cert') : undefined,
    clientKey: files.clientKey !== undefined ? readFileOrUsage(files.clientKey, '--tls-client-key') : undefined,
  };
  return { plan, options };
}

function hostDefaults(): PlanDefaults {
  return {
    newId: () => `m-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`,
    workers: Math.max(1, availableParallelism() - 1),
    stateDir: defaultStateDir(),
  };
}

function checkSignallable(pid: number, flag: string): void {
  try {
    process.kill(pid, 0);
  } catch (error) {
    throw new UsageError(`${flag} ${pid}: no such process we may signal (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

