import { ErrorCode, FerryError } from '@ferry/protocol';

/** Why `signal` was aborted, as the FerryError the migration reports. */
export function abortReason(signal: AbortSignal): FerryError {
  const reason: unknown = signal.reason;
  if (reason instanceof FerryError) return reason;
  return new FerryError(ErrorCode.Aborted, reason instanceof Error ? reason.message : 'cancelled');
}

/**
 * Stops waiting for `promise` when `signal` aborts. Only for waits that own no work (a reply, a drained
 * socket, a timer): whatever the promise stands for is not stopped, so work must take the signal itself.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error); },
    );
  });
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(timer); reject(abortReason(signal)); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal that aborts with `signal`, or with a Timeout error saying `what` did not finish within `ms`.
 * `done()` clears the timer.
 */
export function withDeadline(signal: AbortSignal, ms: number, what: () => string): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new FerryError(ErrorCode.Timeout, what())), ms);
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
}
