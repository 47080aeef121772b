/**
 * Throttles a QEMU guest for ferry's auto-converge: a duty cycle of QMP `stop` and `cont`. QEMU's own
 * auto-converge cannot help, as ferry (not QEMU's migration) moves the RAM. The guest's clock keeps
 * running while it is stopped, so the guest sees short stalls, not a slower clock.
 */
import type { Throttle } from './driver.js';
import { DutyCycle } from './duty-cycle.js';
import type { QmpClient } from '@ferry/qemu';

export class QemuThrottle implements Throttle {
  readonly name = 'qmp';
  readonly #qmp: QmpClient;
  readonly #cycle: DutyCycle;

  constructor(qmp: QmpClient) {
    this.#qmp = qmp;
    this.#cycle = new DutyCycle({
      stop: async () => { await qmp.execute('stop'); },
      cont: async () => { await qmp.execute('cont'); },
    });
  }

  async set(level: number): Promise<void> {
    await this.#cycle.set(level);
    if (this.#cycle.failure) throw this.#cycle.failure;
  }

  restore(): Promise<void> {
    return this.#cycle.restore();
  }

  hold(): Promise<void> {
    return this.#cycle.hold();
  }
}
