/** Images the benchmarks migrate. */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';

/** An image with no zero page: half text-like (compressible), half random. */
export function writeNonZeroImage(path: string, size: number, pageSize = 4096): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, 0);
  const chunk = Buffer.alloc(16 << 20);
  const words = 'migration page dirty pass target source delta cache commit verify kernel heap object '.split(' ');
  for (let offset = 0; offset < size; offset += chunk.length) {
    for (let page = 0; page < chunk.length; page += pageSize) {
      const view = chunk.subarray(page, page + pageSize);
      if ((page / pageSize) % 2 === 0) randomFillSync(view);
      else {
        let text = '';
        let n = page + offset;
        while (text.length < pageSize) text += `${words[(n = (n * 1103515245 + 12345) >>> 0) % words.length]} ${n % 9973} `;
        view.write(text.slice(0, pageSize));
      }
    }
    writeSync(fd, chunk, 0, Math.min(chunk.length, size - offset), offset);
  }
  closeSync(fd);
}
