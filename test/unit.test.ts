/** Every file in test/unit (the pure modules), in this one process: see ./helpers/folder-runner.ts. */
import { runFolder } from './helpers/folder-runner.js';

await runFolder('unit', import.meta.url);
