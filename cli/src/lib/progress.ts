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
