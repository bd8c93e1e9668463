import { Writable } from 'node:stream';
import type { CliIo } from '../../src/io';
import { runCli } from '../../src/program';

/** A writable that keeps what was written. */
export class Capture extends Writable {
  text = '';
  isTTY?: boolean;
  columns = 120;
  constructor(tty = false) {
    super();
    if (tty) {
      this.isTTY = true;
    }
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with captured streams and the given environment. */
export async function cli(
  argv: readonly string[],
  options: { env?: NodeJS.ProcessEnv; tty?: boolean } = {},
): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture(options.tty ?? false);
  const io: CliIo = { stdout, stderr, env: options.env ?? {}, stderrIsTTY: options.tty ?? false };
  const code = await runCli(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}
