/**
 * The service units in examples/systemd pass `systemd-analyze verify` without a warning (it exits 0 on
 * an unknown key or a bad value and only prints them, so the test also requires silence), and keep the
 * hardening the README promises. Skips, saying why, where systemd-analyze is not installed.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { scratchDir } from '../helpers/ferry.js';
import { repoPath } from '../helpers/repo.js';

const UNITS = repoPath('examples', 'systemd') + '/';
const ANALYZE = '/usr/bin/systemd-analyze';
const skip = existsSync(ANALYZE) ? false : `${ANALYZE} is missing (apt-get install systemd)`;

/** Exit status and everything systemd-analyze printed about the unit. */
async function verify(unit: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(ANALYZE, ['verify', '--man=no', unit]);
    return { code: 0, output: `${stdout}${stderr}`.trim() };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}`.trim() };
  }
}

for (const name of ['ferry-target.service', 'ferry-source.service']) {
  t.test(`${name} verifies cleanly and is hardened`, { skip }, async (t) => {
    // A copy in a scratch folder: verify also loads the units beside the one it checks.
    const unit = join(scratchDir(t), name);
    copyFileSync(join(UNITS, name), unit);
    t.same(await verify(unit), { code: 0, output: '' }, 'systemd-analyze verify: exit 0, no warning');
    const text = readFileSync(unit, 'utf8');
    for (const directive of [/^User=ferry$/m, /^StateDirectory=ferry-/m, /^Restart=on-failure$/m, /^ProtectSystem=strict$/m, /^NoNewPrivileges=yes$/m, /^CapabilityBoundingSet=$/m, /^LoadCredential=token:\/etc\/ferry\/token$/m]) {
      t.match(text, directive, `has ${directive.source.replace(/[\^$]/g, '')}`);
    }
    t.match(text, /--token-file \$\{CREDENTIALS_DIRECTORY\}\/token/, 'the token comes from the credential');
  });
}

t.test('the check catches a unit systemd would only half read', { skip }, async (t) => {
  const unit = join(scratchDir(t), 'ferry-target.service');
  writeFileSync(unit, readFileSync(join(UNITS, 'ferry-target.service'), 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=maybe'));
  const result = await verify(unit);
  t.equal(result.code, 0, 'systemd-analyze itself exits 0');
  t.match(result.output, /protect system value/, 'but says what it ignored, which fails the test above');
});
