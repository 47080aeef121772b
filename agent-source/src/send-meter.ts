/**
 * The one count of bytes sent to the target: every message passes through `TargetConnection#sendRaw`,
 * which counts it as it hands it to the socket. The summary, PASS_END and the pass history read it.
 */
export class SendMeter {
  #bytes = 0;
  /** Told of every message as it is counted (the link pacer: every byte is in flight from then on). */
  onCount: ((bytes: number) => void) | undefined;

  get bytes(): number {
    return this.#bytes;
  }

  count(bytes: number): void {
    this.#bytes += bytes;
    this.onCount?.(bytes);
  }
}
