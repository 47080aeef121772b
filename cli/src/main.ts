import { HELP, EXIT, UsageError } from './usage.js';

type Command = (argv: string[]) => Promise<number>;

// Loaded on demand: `ferry workload` should not pay for loading the agents, and vice versa.
const COMMANDS: Record<string, () => Promise<Command>> = {
  target: async () => (await import('./commands/target.js')).targetCommand,
  migrate: async () => (await import('./commands/migrate.js')).migrateCommand,
  source: async () => (await import('./commands/source.js')).sourceCommand,
  recover: async () => (await import('./commands/recover.js')).recoverCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
  workload: async () => (await import('./commands/workload.js')).workloadCommand,
  'wan-proxy': async () => (await import('./commands/wan-proxy.js')).wanProxyCommand,
  plan: async () => (await import('./commands/plan.js')).planCommand,
  autopilot: async () => (await import('./commands/autopilot.js')).autopilotCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? EXIT.usage : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`ferry: unknown command "${name}"\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await (await load())(rest);
  } catch (error) {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`ferry ${name}: ${error.message}\nRun 'ferry ${name} --help' for usage.\n`);
      return EXIT.usage;
    }
    process.stderr.write(`ferry ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.error;
  }
}
