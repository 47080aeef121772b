import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * Flag declarations for node:util parseArgs. Each command declares its flags once, as a constant, and
 * the type of the parsed values is derived from that constant (ArgsOf), so a flag is never listed twice.
 */
interface FlagDeclaration {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
}

export type FlagSpec = Readonly<Record<string, FlagDeclaration>>;

type ValueOf<D extends FlagDeclaration> = D extends { type: 'boolean' } ? boolean : D extends { multiple: true } ? string[] : string;

/** The parsed values of a FlagSpec: every flag optional, as on a command line or in a JSON body. */
export type ArgsOf<S extends FlagSpec> = { -readonly [K in keyof S]?: ValueOf<S[K]> | undefined };

export const LOG_FLAGS = { 'log-level': { type: 'string' }, 'log-file': { type: 'string' } } as const satisfies FlagSpec;
/** Both daemons: host names to answer to besides IP literals, localhost and the --listen host (DNS rebinding). */
export const ALLOW_HOST_FLAG = { 'allow-host': { type: 'string', multiple: true } } as const satisfies FlagSpec;
export const HELP_FLAG = { help: { type: 'boolean', short: 'h' } } as const satisfies FlagSpec;

/** Strict parsing: an unknown flag or a missing value is a usage error (exit 2, see main.ts). */
export function parseFlags<S extends FlagSpec>(argv: string[], spec: S, allowPositionals = false): { values: ArgsOf<S>; positionals: string[] } {
  const { values, positionals } = parseArgs({ args: argv, options: spec as NonNullable<ParseArgsConfig['options']>, strict: true, allowPositionals });
  return { values: values as ArgsOf<S>, positionals };
}

/**
 * A JSON object read as the flags of `spec` (the daemon's request body): every key a declared flag, every
 * value of its declared type. Throws naming the first key that is not.
 */
export function argsFromJson<S extends FlagSpec>(body: unknown, spec: S): ArgsOf<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('the request body must be a JSON object of options');
  for (const [key, value] of Object.entries(body)) {
    const declaration = Object.hasOwn(spec, key) ? spec[key] : undefined;
    if (declaration === undefined) throw new Error(`unknown option "${key}"`);
    const fits = declaration.type === 'boolean' ? typeof value === 'boolean'
      : declaration.multiple ? Array.isArray(value) && value.every((item) => typeof item === 'string')
        : typeof value === 'string';
    if (!fits) throw new Error(`option "${key}" must be ${declaration.type === 'boolean' ? 'true or false' : declaration.multiple ? 'a list of strings' : 'a string'}`);
  }
  return body as ArgsOf<S>;
}
