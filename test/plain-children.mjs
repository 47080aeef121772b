/**
 * Preloaded into each test file's process after tap's own preloads (package.json, `tap.node-arg`).
 *
 * tap records which files every process under a test loaded (for coverage and `--changed`, both unused
 * here) by adding a loader to the NODE_OPTIONS of every child that process starts. On Node 20 that
 * loader runs on a thread of its own and costs each `ferry` and helper process about 0.27 CPU s at
 * start, across the hundreds of processes the suite starts. So a test's children start as a user's
 * would: without tap's loader.
 */
import { createRequire } from 'node:module';

const requireFromProcessInfo = createRequire(import.meta.resolve('@tapjs/processinfo'));
requireFromProcessInfo('process-on-spawn').removeAllListeners();
delete process.env.NODE_OPTIONS;
for (const key of Object.keys(process.env)) if (key.startsWith('_TAPJS_PROCESSINFO_')) delete process.env[key];
