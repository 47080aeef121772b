/**
 * Bundles the compiled CLI (cli/dist, after `tsc -b`) into cli/dist/bundle, which cli/bin/ferry.js runs.
 *   node --import tsx scripts/bundle-cli.ts        (part of `npm run build`)
 *
 * Why: Node 20 loads each ES module with a resolve, a read and a compile of its own. `ferry migrate`
 * loaded about 150 of ferry's modules and 80 of its dependencies' files, which cost 0.3 CPU s at every
 * start (0.42 against 0.12 for `node -e 0`) and 1.3-2.7 s inside a TCG guest; bundled, it loads 22
 * chunks and takes 0.21.
 * Commands stay lazily loaded: code splitting gives each command and its shared code their own chunks.
 *
 * The threads and the guardian process are found beside the code that starts them
 * (`new URL('./scan-worker.js', import.meta.url)`), so they are entry points here under the same names,
 * in the same folder as every chunk. After the build, every such relative URL in the output is checked
 * to name a file that exists, so code that looks for a file beside itself cannot break in the bundle
 * unnoticed.
 */
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'cli', 'dist', 'bundle');

/** Output name (the name the code starting it looks for) -> compiled entry. */
const ENTRIES = {
  main: 'cli/dist/main.js',
  'scan-worker': 'packages/pages/dist/scan-worker.js',
  'plan-worker': 'cli/dist/autopilot/plan-worker.js',
  guardian: 'packages/throttle/dist/guardian.js',
};

/**
 * Left in node_modules, loaded from there at run time: highs and lz4-wasm-nodejs read their WebAssembly
 * from beside their own files; vega and vega-lite are megabytes that only `ferry plan --plots` loads.
 */
const EXTERNAL = ['highs', 'lz4-wasm-nodejs', 'vega', 'vega-lite'];

/** The bundled CommonJS dependencies (pino, ws, msgpack-lite) call `require`, which an ES module lacks. */
const REQUIRE_SHIM = "import { createRequire as ferryCreateRequire } from 'node:module'; const require = ferryCreateRequire(import.meta.url);";

rmSync(OUT, { recursive: true, force: true });
await build({
  absWorkingDir: ROOT,
  entryPoints: ENTRIES,
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  banner: { js: REQUIRE_SHIM },
  // Stack traces map back to the sources under `node --enable-source-maps`.
  sourcemap: 'linked',
  logLevel: 'warning',
});
const missing = filesNamedBesideThemselves(OUT).filter((file) => !existsSync(file));
if (missing.length > 0) {
  console.error(`bundle-cli: the bundle looks for files that are not there:\n  ${missing.join('\n  ')}`);
  process.exit(1);
}

/** Every file the output names as `new URL('<relative path>', import.meta.url)`, resolved. */
function filesNamedBesideThemselves(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.js')).flatMap((name) => {
    const url = pathToFileURL(join(dir, name));
    const text = readFileSync(join(dir, name), 'utf8');
    return [...text.matchAll(/new URL\("(\.{1,2}\/[^"]*)", import\.meta\.url\)/g)].map((match) => fileURLToPath(new URL(match[1]!, url)));
  });
}
