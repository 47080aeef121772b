import { readFileSync, statSync } from 'node:fs';
import { PlannerError } from '@ferry/planner';
import { parseAutopilotScenario, type AutopilotScenario } from '../autopilot/config.js';
import { runAutopilot } from '../autopilot/loop.js';
import { startPlannerThread } from '../autopilot/planner-thread.js';
import { dayTable, eventText, type AutopilotEvent, type PeriodReport } from '../autopilot/report.js';
import { ALLOW_HOST_FLAG, HELP_FLAG, LOG_FLAGS, parseFlags } from '../flags.js';
import { DEFAULT_LIMITS } from '../highs-solver.js';
import { parseListen } from '../listen.js';
import { createLogger } from '../logging.js';
import { readPrivateToken } from '../token-file.js';
import { parseCount, parseDuration } from '../units.js';
import { UsageError } from '../usage.js';

const HELP = `ferry autopilot --scenario FILE --token-file F [--period DURATION] [--prices FILE]
                [--calibrate FILE.ndjson] [--max-per-link N] [--time-limit S] [--dry-run] [--json]
                [--listen HOST:PORT [--allow-host NAME ...]] [--log-level L] [--log-file F]

Moves the scenario's VMs toward the cheapest electricity, unattended. Every period it reads the fleet
from each data centre's 'ferry source' daemon (GET /status), re-plans from this period to the end of
the day with the prices known now (the rolling model of 'ferry plan'), starts the period's migrations
(POST /migrations) no more at once per link than --max-per-link and within the plan's link capacity,
follows each on /events to its end, and appends its summary to the calibration file. A migration that
rolls back or is refused leaves its VM where it runs; the next period plans from the fleet as it is.

The scenario is a 'ferry plan' scenario whose datacenters name sourceUrl and targetUrl, whose
inventory names each VM and its image, plus "autopilot": {"targetDirs": {"<dc>": "<its target's --dir>"},
"migrate": {<ferry migrate options for every migration; {vm} is replaced by the VM's name>}}.

  --scenario FILE     the fleet, its data centres and the day's prices (JSON)
  --token-file F      the source daemons' token (this user's own, chmod 600); --listen wants it too
  --period DURATION   one planning period, an hour of the scenario (default 3600 s; 5s for a demo;
                      0: each period starts as soon as the last one's migrations have ended)
  --prices FILE       {"<zone>": [$/kWh per hour]} re-read every period (another process may update it);
                      a missing or bad file keeps the last good prices and says so
  --calibrate FILE    appends every finished migration's summary; once it holds a committed one, plans
                      charge what ferry measured instead of the memory size
  --max-per-link N    migrations running at once over any one link (default 2)
  --time-limit S      seconds the solver may search per period (default ${DEFAULT_LIMITS.timeLimitSeconds})
  --dry-run           plan and print every period, as if every migration committed; calls no daemon
  --json              NDJSON events on stdout: plan (the fleet as read, the period's moves and starts),
                      starting, migration (its end), period, note; with --listen, first listening
  --listen HOST:PORT  serve GET /status (the period, the fleet as last read, the period's plan, the
                      migrations in flight, the counts and the cost so far against never migrating) and
                      GET /metrics (Prometheus); both want "Authorization: Bearer <token>" of --token-file
  --allow-host NAME   with --listen: answer to Host NAME too (repeatable); IP addresses, localhost and the
                      --listen host always work; any other Host is refused (DNS rebinding)
  --log-level L, --log-file F   default level warn (the --listen endpoint logs what it refuses)
Prints a line per period (planned, started, committed, rolled back, failed, cost so far against never
migrating, and what diverged from the plan and why), then the day hour by hour and the bill.
Requests from web pages are refused: an Origin header other than the endpoint's own gets 403.
Exit status: 0 when every started migration committed, 3 when some rolled back or failed, 2 usage.
`;

export const AUTOPILOT_FLAGS = {
  scenario: { type: 'string' }, 'token-file': { type: 'string' }, period: { type: 'string' }, prices: { type: 'string' },
  calibrate: { type: 'string' }, 'max-per-link': { type: 'string' }, 'time-limit': { type: 'string' },
  'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, listen: { type: 'string' }, ...ALLOW_HOST_FLAG, ...LOG_FLAGS, ...HELP_FLAG,
} as const;

export async function autopilotCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, AUTOPILOT_FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.scenario) throw new UsageError('--scenario FILE is required');
  const dryRun = values['dry-run'] === true;
  const ap = loadScenario(values.scenario, dryRun);
  if (!dryRun && !values['token-file']) throw new UsageError('--token-file F is required: the source daemons want their token (or give --dry-run)');
  if (values.listen !== undefined && !values['token-file']) throw new UsageError('--listen wants --token-file F: its /status and /metrics show the fleet, its plan and its bill to token holders only');
  if (values['allow-host'] !== undefined && values.listen === undefined) throw new UsageError('--allow-host names a Host for --listen: give --listen HOST:PORT');
  const token = values['token-file'] === undefined ? '' : readPrivateToken(values['token-file']);
  const periodMs = values.period === undefined ? 3_600_000 : parseDuration(values.period, '--period', 's', { allowZero: true });
  const maxPerLink = values['max-per-link'] === undefined ? 2 : parseCount(values['max-per-link'], '--max-per-link', 1, 1000);
  const seconds = values['time-limit'] === undefined ? DEFAULT_LIMITS.timeLimitSeconds : parseDuration(values['time-limit'], '--time-limit', 's') / 1000;
  const listen = values.listen === undefined ? undefined : parseListen(values.listen);
  const logger = createLogger(values['log-level'], values['log-file'], 'ferry-autopilot');
  const dcNames = ap.scenario.datacenters.map((d) => d.name);
  // Loaded only for --listen: the endpoint's HTTP and metrics modules are a third of a second of CPU to load.
  const endpoint = listen && await (await import('../autopilot/endpoint.js')).serveAutopilot({ ...listen, token, allowHosts: values['allow-host'], logger, info: { dcNames, hours: ap.scenario.hours, periodMs, dryRun } });
  if (endpoint) process.stdout.write(values.json ? `${JSON.stringify({ event: 'listening', url: endpoint.url })}\n` : `status at ${endpoint.url}/status, metrics at ${endpoint.url}/metrics\n`);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const planner = startPlannerThread({ ...DEFAULT_LIMITS, timeLimitSeconds: seconds });
  const reports: PeriodReport[] = [];
  const emit = (event: AutopilotEvent): void => {
    if (event.event === 'period') reports.push(event);
    endpoint?.observe(event);
    process.stdout.write(values.json ? `${JSON.stringify(event)}\n` : eventText(event, reports));
  };
  try {
    await runAutopilot({ ap, token, periodMs, plan: planner.plan, pricesFile: values.prices, calibrationFile: values.calibrate, dryRun, maxPerLink, emit, signal: stop.signal });
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await planner.close();
    await endpoint?.close();
  }
  if (!values.json) process.stdout.write(dayTable(dcNames, reports));
  return reports.some((r) => r.rolledBack + r.failed > 0) ? 3 : 0;
}

/**
 * The scenario names commands every source daemon runs (its migrate block) and the autopilot holds the
 * daemons' token: a file others may write would let them run commands on every host, so it is refused.
 */
function loadScenario(file: string, dryRun: boolean): AutopilotScenario {
  let raw: unknown;
  try {
    if (!dryRun) trustedFile(file);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--scenario ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--scenario ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    return parseAutopilotScenario(raw);
  } catch (error) {
    if (error instanceof PlannerError) throw new UsageError(`${file}: ${error.message}`);
    throw error;
  }
}

function trustedFile(file: string): void {
  const { uid, mode } = statSync(file);
  const me = process.geteuid?.() ?? uid;
  if (uid !== me) throw new UsageError(`--scenario ${file} belongs to uid ${uid}, not to this user (uid ${me}): its migrate block names commands the source daemons run`);
  if ((mode & 0o022) !== 0) throw new UsageError(`--scenario ${file} can be written by others (mode ${(mode & 0o777).toString(8)}): its migrate block names commands the source daemons run; chmod go-w ${file}`);
}
