/**
 * Progress for long work, on stderr so stdout stays clean for --json: a redrawn line on a
 * terminal, a plain line every 10% otherwise (CI logs), nothing when asked for quiet.
 */
export function progressReporter(
  label: string,
  enabled: boolean,
  /** Work smaller than this finishes too fast for progress to help. */
  minTotal = 64 * 1024 * 1024,
): (done: number, total: number) => void {
  if (!enabled) return () => undefined;
  const tty = process.stderr.isTTY === true;
  let lastDecile = -1;
  let lastDraw = 0;
  return (done, total) => {
    if (total < minTotal) return;
    const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    if (tty) {
      const nowMs = Date.now();
      if (nowMs - lastDraw < 100 && pct < 100) return;
      lastDraw = nowMs;
      process.stderr.write(
        `\r${label} ${pct}% (${formatBytes(done)} of ${formatBytes(total)})${pct === 100 ? '\n' : ''}`,
      );
    } else {
      const decile = Math.floor(pct / 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${label} ${decile * 10}%\n`);
      }
    }
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
