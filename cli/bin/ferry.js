#!/usr/bin/env node
// Thin launcher so the bin link exists before the first build; the CLI itself is compiled TypeScript,
// bundled by scripts/bundle-cli.ts (`npm run build`) so that it starts without loading ~200 files.
import { fileURLToPath } from 'node:url';

const BUNDLE = new URL('../dist/bundle/main.js', import.meta.url);

const { main } = await import(BUNDLE.href).catch((error) => {
  const path = fileURLToPath(BUNDLE);
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(path)) throw error;
  process.stderr.write(`ferry: ${path} is missing: build ferry first (npm run build in its checkout)\n`);
  process.exit(1);
});
process.exitCode = await main(process.argv.slice(2));
