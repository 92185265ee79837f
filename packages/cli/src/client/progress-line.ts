/**
 * One status line that redraws in place on a terminal and prints only changes of phase
 * elsewhere (CI logs stay readable).
 */
export class ProgressLine {
  private lastPhase = '';
  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  update(phase: string, fraction: number | undefined, detail: string): void {
    if (this.out.isTTY) {
      const width = 28;
      const filled = fraction === undefined ? 0 : Math.round(Math.min(1, Math.max(0, fraction)) * width);
      const bar =
        fraction === undefined
          ? ''
          : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor((fraction ?? 0) * 100)}% `;
      this.out.write(`\r\x1b[2K${phase.padEnd(17)} ${bar}${detail}`);
    } else if (phase !== this.lastPhase) {
      this.out.write(`${phase} ${detail}\n`);
    }
    this.lastPhase = phase;
  }

  done(): void {
    if (this.out.isTTY) this.out.write('\n');
  }
}
