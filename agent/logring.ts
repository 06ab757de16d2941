import { Writable } from 'node:stream';

/**
 * Keeps the last log lines in memory for the platform's `logs.tail` command, while the same
 * lines go to stdout (journald). Bounded: old lines fall off.
 */
export class LogRing extends Writable {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly capacity = 500) {
    super();
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line) continue;
      this.lines.push(line.length > 4000 ? `${line.slice(0, 3997)}...` : line);
      if (this.lines.length > this.capacity) this.lines.shift();
    }
    done();
  }

  tail(n: number): string[] {
    return this.lines.slice(-Math.max(0, n));
  }
}
