/**
 * `--qemu-cmd` templates: a QEMU command line written as one shell-like string, with `{image:NAME}`
 * where the received image NAME's path goes (`{disk:NAME}` says the same of a guest disk).
 *
 *     qemu-system-x86_64 -m 256M -object memory-backend-file,id=mem,size=256M,mem-path={image:ram},share=on ...
 *
 * Splitting follows the POSIX shell for words and quotes only (no variables, globs or pipes):
 * whitespace separates words; '...' is literal; "..." is literal except \" \\ \$ \` and a backslash
 * before a newline; a backslash outside quotes keeps the next character. Placeholders are replaced
 * after splitting, so a path with spaces stays one argument; inside a longer word (a QEMU option list)
 * a comma in the path is doubled, QEMU's escape for a literal comma.
 */

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const PLACEHOLDER = /\{(?:image|disk):([^{}]*)\}/g;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Splits a shell-like command line into words. Throws TemplateError on an unterminated quote. */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new TemplateError(`unterminated ' in the QEMU command at offset ${i}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const [text, next] = readDoubleQuoted(line, i + 1);
      word += text;
      inWord = true;
      i = next;
    } else if (c === '\\') {
      if (i + 1 < line.length && line[i + 1] !== '\n') word += line[i + 1];
      inWord = inWord || line[i + 1] !== '\n';
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function readDoubleQuoted(line: string, start: number): [string, number] {
  let text = '';
  for (let i = start; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') return [text, i + 1];
    if (c === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1]!)) {
      if (line[i + 1] !== '\n') text += line[i + 1];
      i++;
    } else {
      text += c;
    }
  }
  throw new TemplateError(`unterminated " in the QEMU command at offset ${start - 1}`);
}

/**
 * Splits `template` into argv and replaces each `{image:NAME}` with `images[NAME]`. Throws
 * TemplateError for an empty command, a bad or unknown NAME (naming the images it knows).
 */
export function expandQemuTemplate(template: string, images: Record<string, string>): string[] {
  const words = splitCommandLine(template);
  if (words.length === 0) throw new TemplateError('the QEMU command is empty');
  return words.map((word) => {
    const whole = /^\{(?:image|disk):[^{}]*\}$/.test(word);
    return word.replace(PLACEHOLDER, (match, name: string) => {
      if (!NAME.test(name)) throw new TemplateError(`bad image name in ${match}`);
      const path = Object.hasOwn(images, name) ? images[name] : undefined;
      if (path === undefined) {
        const known = Object.keys(images);
        throw new TemplateError(`${match}: no image called '${name}' (images: ${known.length > 0 ? known.join(', ') : 'none'})`);
      }
      return whole ? path : path.replaceAll(',', ',,');
    });
  });
}
