/** Every file in test/faults (rollback in every phase before GO, and recovery), in this one process: see ./helpers/folder-runner.ts. */
import { runFolder } from './helpers/folder-runner.js';

await runFolder('faults', import.meta.url);
