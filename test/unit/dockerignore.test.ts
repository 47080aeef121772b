/**
 * The image copies only what .dockerignore lets in, workspace by workspace (the legacy builder takes no
 * wildcard exception inside an excluded folder): a workspace missing there is missing from the image,
 * and `ferry` in the container fails to import it.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/repo.js';

const ROOT = REPO_ROOT;

t.test('.dockerignore lets in the package.json and dist of every workspace', async (t) => {
  const workspaces = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  const allowed = new Set(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((line) => line.startsWith('!')).map((line) => line.slice(1).trim()));
  const missing = workspaces.flatMap((w) => [`${w}/package.json`, `${w}/dist`]).filter((path) => !allowed.has(path));
  t.same(missing, [], `add to .dockerignore: ${missing.join(', ')}`);
});
