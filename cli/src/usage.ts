/** Usage errors exit with status 2 and a message that says what to fix. */
export class UsageError extends Error {
  override readonly name: string = 'UsageError';
}

export const EXIT = { committed: 0, error: 1, usage: 2, rolledBack: 3, unknown: 4 } as const;

export const HELP = `ferry: live migration of a running VM's memory image over TCP (iterative pre-copy)

Usage:
  ferry target   --listen HOST:PORT --dir DIR [--token-file F] [--insecure] [--once]
                 [--on-commit CMD] [--hook-timeout SECONDS] [--qemu-cmd TEMPLATE] [--tls-cert F --tls-key F [--tls-ca F]]
  ferry migrate  --to ws[s]://HOST:PORT --image NAME=PATH [--image ...] [--state NAME=PATH ...]
                 [--state-cmd CMD] [--pause-cmd CMD] [--resume-cmd CMD] [--qmp SOCKET] [--keep-source]
                 [--policy smart|xen|downtime] [--max-downtime MS] [--delta-cache BYTES] [--no-delta]
                 [--compress auto|always|never] [--rate-limit RATE] [--token-file F] [--id ID]
                 [--timeout SECONDS] [--on-timeout cancel|force] [--workers N] [--json]
                 [--hook-timeout SECONDS] [--paused-timeout SECONDS] [--state-dir DIR]
  ferry recover  [--state-dir DIR] [--id ID]  after a killed migrate: resume the workload if no GO was sent
  ferry source   --listen HOST:PORT        daemon: POST /migrations takes the migrate options as JSON
  ferry status   URL                       phase, pass, bytes and rate of either agent
  ferry demo     [--profile web|compile|jvm] [--size BYTES]
  ferry workload --image PATH --size BYTES --profile web|compile|jvm [--rate BYTES/s] [--fill]
  ferry wan-proxy --listen HOST:PORT --to HOST:PORT [--delay MS] [--rate RATE] [--jitter MS]

Common options: --log-level trace|debug|info|warn|error (default warn), --log-file F (default stderr)
Sizes: 4096, 256MiB, 1GiB.  Rates: 100mbit, 1gbit, 12MB/s.
Exit codes: 0 committed, 1 error, 2 usage, 3 rolled back (source resumed), 4 outcome unknown.
Run 'ferry COMMAND --help' for one command.
`;
