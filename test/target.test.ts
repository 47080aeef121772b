/**
 * Every file in test/target, in this one process (./helpers/folder-runner.ts): a real `ferry target` on
 * loopback against hostile, malformed and edge-case clients, its memory bound, its files and its commit.
 */
import { runFolder } from './helpers/folder-runner.js';

await runFolder('target', import.meta.url);
