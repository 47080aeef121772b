/** What a source reads of a target's error: the operator's paths taken out, the names it chose kept. */
import t from 'tap';
import { privatePaths, publicMessage } from '@ferry/agent-target';

t.test('an error text as a source reads it: the target folder and --base files are taken out, names stay', async (t) => {
  const paths = privatePaths('/srv/ferry', ['/srv/bases/ram.img']);
  t.equal(publicMessage("writing image m1/ram.partial: EIO, write '/srv/ferry/m1/ram.partial'", paths), "writing image m1/ram.partial: EIO, write 'm1/ram.partial'");
  t.equal(publicMessage('no space left committing migration m1 in /srv/ferry (3.0 MiB free there)', paths), 'no space left committing migration m1 in the target folder (3.0 MiB free there)');
  t.equal(publicMessage("open '/srv/bases/ram.img'", paths), "open 'a --base file'");
  t.equal(publicMessage('image /srv/ferryx is not under it', paths), 'image the target folderx is not under it', 'a longer name that starts with the path is still not told');
  const relative = privatePaths('data', []);
  t.notMatch(publicMessage(`open '${process.cwd()}/data/m1/x'`, relative), new RegExp(process.cwd()), 'a relative --dir is taken out in its absolute form too');
});
