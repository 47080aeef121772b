/**
 * The image copies only what .dockerignore lets in, workspace by workspace (the legacy builder takes no
 * wildcard exception inside an excluded folder): a workspace missing there is missing from the image,
 * and `ferry` in the container fails to import it.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { repoPath } from '../helpers/repo.js';

t.test('.dockerignore lets in the package.json and dist of every workspace', async (t) => {
  const workspaces = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  const allowed = new Set(readFileSync(repoPath('.dockerignore'), 'utf8').split('\n').filter((line) => line.startsWith('!')).map((line) => line.slice(1).trim()));
  const missing = workspaces.flatMap((w) => [`${w}/package.json`, `${w}/dist`]).filter((path) => !allowed.has(path));
  t.same(missing, [], `add to .dockerignore: ${missing.join(', ')}`);
});
