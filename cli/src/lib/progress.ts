// A one-line progress bar on stderr for long uploads; silent when stderr is not a terminal
// (logs, CI, --json), where a final summary line says the same.
import { formatBytes } from './format.js';

export class ProgressBar {
  private lastDraw = 0;

  constructor(
    private readonly label: string,
    private readonly totalFiles: number,
    private readonly totalBytes: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled: boolean = Boolean(process.stderr.isTTY),
  ) {}

  update(files: number, bytes: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 80 && files < this.totalFiles) return;
    this.lastDraw = now;
    this.stream.write(`\r${this.render(files, bytes)}`);
  }

  done(): void {
    if (this.enabled) this.stream.write('\n');
  }

  render(files: number, bytes: number): string {
    const fraction = this.totalBytes > 0 ? Math.min(1, bytes / this.totalBytes) : 1;
    const width = 28;
    const filled = Math.round(fraction * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    return `${this.label} ${bar} ${percent} ${files}/${this.totalFiles} files ${formatBytes(bytes)}/${formatBytes(this.totalBytes)}`;
  }
}

/**
 * A bar counting items (images detected, evaluated) on stderr. Drawn only when `enabled`: callers
 * pass `progressWanted(json)`, so logs, pipes, CI and --json runs stay quiet.
 */
export class CountProgress {
  private lastDraw = 0;
  private done = 0;
  private shown = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly enabled: boolean,
    private readonly stream: Pick<NodeJS.WriteStream, 'write'> = process.stderr,
  ) {}

  update(done: number): void {
    this.done = done;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 80 && done < this.total) return;
    this.lastDraw = now;
    this.stream.write(`\r${this.render(done)}`);
    this.shown = true;
  }

  /** Erases the bar, so a line can be printed; the next update draws it again. */
  clear(): void {
    if (!this.enabled || !this.shown) return;
    this.stream.write('\r\x1b[K');
    this.shown = false;
    this.lastDraw = 0;
  }

  /** Runs `print` with the bar out of the way, then draws it again. */
  around(print: () => void): void {
    this.clear();
    print();
    if (this.enabled && this.done < this.total) this.update(this.done);
  }

  finish(): void {
    if (!this.enabled) return;
    this.clear();
  }

  render(done: number): string {
    const fraction = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 28;
    const filled = Math.round(fraction * width);
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    return `${this.label} ${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${percent} ${done}/${this.total}`;
  }
}

/** Whether to draw a progress bar: stderr is a terminal and the output is not --json. */
export function progressWanted(json: boolean, stream: { isTTY?: boolean } = process.stderr): boolean {
  return !json && Boolean(stream.isTTY);
}
