/**
 * Progress lines on stderr. On a terminal one line is rewritten in place; otherwise a line is printed when a step
 * starts, every 15 s while it runs, and when it ends — so CI logs stay short and readable.
 */

const tty = (): boolean => Boolean(process.stderr.isTTY);

/** Print one line of output on stderr, tagged with what prints it (`lab:` unless told). */
export function say(message: string, tag = 'lab'): void {
  process.stderr.write(`${tag}: ${message}\n`);
}

/** A running slow step that shows its elapsed time. */
export class Progress {
  private readonly started = Date.now();
  private detail = '';
  private readonly timer: NodeJS.Timeout;
  private finished = false;

  /** @param tag what prints the lines, e.g. `lab` or `build` */
  constructor(private readonly title: string, private readonly tag = 'lab') {
    if (tty()) this.draw();
    else say(`${title} …`, tag);
    this.timer = setInterval(() => (tty() ? this.draw() : say(`${this.title} … ${this.line()}`, this.tag)), tty() ? 1000 : 15000);
    this.timer.unref();
  }

  /** Seconds since the step started. */
  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** Change the detail shown after the elapsed time (e.g. "2/3 hosts"). */
  update(detail: string): void {
    this.detail = detail;
    if (tty()) this.draw();
  }

  /** End the step successfully. */
  done(summary = 'done'): number {
    return this.end(summary);
  }

  /** End the step as failed. */
  fail(summary = 'failed'): number {
    return this.end(summary);
  }

  private end(summary: string): number {
    const seconds = this.seconds;
    if (this.finished) return seconds;
    this.finished = true;
    clearInterval(this.timer);
    if (tty()) process.stderr.write('\r\x1b[K');
    say(`${this.title}: ${summary} (${seconds.toFixed(1)} s)`, this.tag);
    return seconds;
  }

  private line(): string {
    return `${Math.floor(this.seconds)} s${this.detail ? ` · ${this.detail}` : ''}`;
  }

  private draw(): void {
    process.stderr.write(`\r\x1b[K${this.tag}: ${this.title} … ${this.line()}`);
  }
}

/** Run `work` as a progress step; the step is marked failed when it throws. */
export async function step<T>(title: string, work: (progress: Progress) => Promise<T> | T, summary?: (value: T) => string): Promise<T> {
  const progress = new Progress(title);
  try {
    const value = await work(progress);
    progress.done(summary ? summary(value) : 'done');
    return value;
  } catch (error) {
    progress.fail();
    throw error;
  }
}
