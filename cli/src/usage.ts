/** Usage errors exit with status 2 and a message that says what to fix. */
export class UsageError extends Error {
  override readonly name: string = 'UsageError';
}

export const EXIT = { committed: 0, error: 1, usage: 2, rolledBack: 3, unknown: 4 } as const;

export const HELP = `ferry: live migration of a running VM's memory image over TCP (iterative pre-copy)

Usage:
  ferry target   --listen HOST:PORT --dir DIR [--token-file F] [--insecure] [--allow-host NAME ...]
                 [--once] [--json] [--on-commit CMD] [--hook-timeout SECONDS] [--qemu-cmd TEMPLATE]
                 [--base NAME=PATH,page=B,id=ID ...] [--resume-grace S] [--idle-timeout S]
                 [--max-table-memory B]
                 [--tls-cert F --tls-key F [--tls-ca F]] [--max-image-size B] [--max-images N]
                 [--max-blob-size B] [--max-message-size B] [--max-migrations N]
                 [--pre-auth-timeout S] [--max-pre-auth N] [--max-pre-auth-per-address N]
  ferry migrate  --to ws[s]://HOST:PORT --image NAME=PATH [--image ...] [--state NAME=PATH ...]
                 [--state-cmd CMD] [--pause-cmd CMD] [--resume-cmd CMD] [--qmp SOCKET] [--disk NAME=NODE ...]
                 [--keep-source]
                 [--policy smart|xen|downtime] [--max-downtime MS] [--delta-cache BYTES] [--no-delta]
                 [--compress auto|always|never] [--rate-limit RATE | --no-pacing] [--token-file F] [--ca F]
                 [--tls-client-cert F --tls-client-key F] [--reconnect-timeout S] [--reply-timeout S]
                 [--timeout SECONDS] [--on-timeout cancel|force] [--id ID] [--workers N]
                 [--page-size BYTES] [--json]
                 [--hook-timeout SECONDS] [--paused-timeout SECONDS] [--state-dir DIR]
                 [--throttle auto|off] [--throttle-pid PID] [--cgroup PATH]
                 [--dirty-log auto|soft-dirty|hash] [--dirty-pid PID]
  ferry recover  [--state-dir DIR] [--id ID] [--json]  after a killed migrate: resume the workload if no GO was sent
  ferry source   --listen HOST:PORT --token-file F [--allow-host NAME ...]
                 daemon: POST /migrations takes the migrate options as JSON
  ferry status   URL [--json] [--token-file F]       phase, pass, bytes and rate of either agent
  ferry demo     [--profile web|compile|jvm] [--size BYTES] [--rate RATE]
  ferry workload --image PATH --size BYTES [--profile web|compile|jvm] [--rate RATE] [--fill] [--seed N]
                 [--duration SECONDS]
  ferry wan-proxy --listen HOST:PORT --to HOST:PORT [--delay MS] [--rate RATE] [--jitter MS]
  ferry plan     --scenario FILE [--scenario FILE ...] [--hours N] [--json] [--plots DIR]
                 [--calibrate FILE.ndjson] [--rolling] [--emit migrations] [--time-limit S] [--gap FRACTION]
                 when and where to migrate VMs for the lowest electricity cost
  ferry autopilot --scenario FILE --token-file F [--period DURATION] [--prices FILE] [--calibrate FILE.ndjson]
                 [--max-per-link N] [--time-limit S] [--dry-run] [--json] [--listen HOST:PORT]
                 [--allow-host NAME ...]
                 every period: read the fleet, re-plan, migrate through the source daemons;
                 --listen serves its own /status and /metrics

Logging (target, migrate, source, wan-proxy, autopilot; demo has --log-level only): --log-level
trace|debug|info|warn|error|fatal|silent (default warn; info for source and wan-proxy), --log-file F
(default stderr).
Sizes: 4096, 256MiB, 1GiB.  Rates: 100mbit, 1gbit, 12MB/s.  Durations: a number in the option's unit
(SECONDS or MS), or with a suffix: 500ms, 2s.  Counts (N): whole numbers.
Exit codes: 0 committed, 1 error, 2 usage, 3 rolled back (source resumed), 4 outcome unknown.
Run 'ferry COMMAND --help' for one command.
`;
