#!/usr/bin/env node
// Thin launcher so the bin link exists before the first build; the CLI itself is compiled TypeScript,
// bundled by scripts/bundle-cli.ts (`npm run build`) so that it starts without loading ~200 files.
import { main } from '../dist/bundle/main.js';

process.exitCode = await main(process.argv.slice(2));
