/**
 * The logging this package needs: a pino `Logger` (or a child of one) fits, and so does anything else
 * with these three methods. Declared structurally so @ferry/qemu depends on node builtins only.
 */
export interface QemuLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const noop = (): void => {};
export const silentLogger: QemuLogger = { debug: noop, info: noop, warn: noop };
