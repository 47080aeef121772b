/**
 * `ferry autopilot --listen`: its own GET /status and GET /metrics, served by `@ferry/serve` behind the
 * daemons' gate (Host, Origin, the bearer token of --token-file). Both are folds of the events the loop
 * emits, fed through `observe`.
 */
import type { Logger } from 'pino';
import { AutopilotMetrics, serveStatus } from '@ferry/serve';
import type { AutopilotEvent } from './report.js';
import { AutopilotStatus, meter, type StatusInfo } from './status.js';

export interface AutopilotEndpoint {
  readonly url: string;
  observe(event: AutopilotEvent): void;
  close(): Promise<void>;
}

export interface EndpointOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  readonly allowHosts?: readonly string[] | undefined;
  readonly logger: Logger;
  readonly info: StatusInfo;
}

export async function serveAutopilot(o: EndpointOptions): Promise<AutopilotEndpoint> {
  const status = new AutopilotStatus(o.info, () => new Date());
  const metrics = new AutopilotMetrics(() => status.running);
  const server = await serveStatus({ host: o.host, port: o.port, token: o.token, allowHosts: o.allowHosts, logger: o.logger, status: () => status.snapshot(), metrics });
  return {
    url: server.url,
    observe(event) {
      status.on(event);
      meter(metrics, o.info.dcNames, event);
    },
    close: () => server.close(),
  };
}
