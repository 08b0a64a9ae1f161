/** Output of the CLI: human tables and lines by default, JSON with `--json`; the progress bar. */
import type { Progress } from './sdk.js';

export function table(rows: readonly (readonly string[])[], header: readonly string[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  return all
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * A progress bar on stderr: redrawn in place on a terminal (or with
 * `LGSP_PROGRESS=1`), silent otherwise so that logs stay clean.
 */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr) {
  const enabled = stream.isTTY === true || process.env['LGSP_PROGRESS'] === '1';
  const started = Date.now();
  let last = 0;
  let drawn = false;
  const draw = ({ bytes: done, totalBytes }: Progress, force = false) => {
    if (!enabled) return;
    const now = Date.now();
    if (!force && now - last < 100 && done !== totalBytes) return;
    last = now;
    const seconds = Math.max((now - started) / 1000, 0.001);
    const rate = `${bytes(done / seconds)}/s`;
    let line: string;
    if (totalBytes === undefined || totalBytes === 0) {
      line = `${label} ${bytes(done)} ${rate}`;
    } else {
      const share = Math.min(1, done / totalBytes);
      const width = 30;
      const full = Math.round(share * width);
      line = `${label} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${(share * 100).toFixed(0).padStart(3)}% ${bytes(done)}/${bytes(totalBytes)} ${rate}`;
    }
    stream.write(`\r${line}\u001b[K`);
    drawn = true;
  };
  return {
    update: (p: Progress) => draw(p),
    done: () => {
      if (drawn) stream.write('\n');
    },
  };
}
