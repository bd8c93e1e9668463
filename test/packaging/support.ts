/** Shared checks of the packaging suites: starting an installed `agent-worker`, image base pins. */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Env, ExitCode } from '../../contract/src';
import { baseImages, type Dockerfile } from '../../testkit/dockerfile';
import { cleanEnv, describeRun, type RunResult, run } from '../../testkit/exec';
import { freePort } from '../../testkit/ports';

export { ExitCode };

/**
 * `agent-worker --help` and a real start. `--help` exits 0 and lists the contract's variables, which
 * proves the bin and the modules it loads first resolve from the install. The real start
 * loads a handler and the whole runtime (amqplib, pino, prom-client, the metrics server) and then
 * exits 69 (dependencyUnreachable) after failing to reach a broker on a closed local port for 1 s.
 */
export async function startWorker(
  command: readonly string[],
  cwd: string,
  options: {
    /** The handler module. @default a trivial one written to `scratch` */
    readonly handler?: string;
    /** More environment, e.g. the image's ENV lines. */
    readonly env?: NodeJS.ProcessEnv;
    /** Where the probe handler and checkpoints go. @default cwd */
    readonly scratch?: string;
  } = {},
): Promise<{ help: RunResult; start: RunResult }> {
  const [bin, ...args] = command;
  const scratch = options.scratch ?? cwd;
  mkdirSync(scratch, { recursive: true });
  const help = await run(bin, [...args, '--help'], {
    cwd,
    env: cleanEnv({ ...options.env, [Env.AGENT_HANDLER]: '' }),
    timeoutMs: 30_000,
  });

  let handler = options.handler;
  if (!handler) {
    handler = path.join(scratch, 'probe-handler.js');
    writeFileSync(handler, 'module.exports = async (input) => input;\n');
  }
  const checkpoints = path.join(scratch, 'probe-checkpoints');
  mkdirSync(checkpoints, { recursive: true });
  const port = await freePort();
  const start = await run(bin, args, {
    cwd,
    env: cleanEnv({
      ...options.env,
      [Env.AGENT_HANDLER]: handler,
      [Env.TASK_QUEUE_URL]: `amqp://agent:secret@127.0.0.1:${port}/`,
      [Env.AGENT_BROKER_CONNECT_SECONDS]: '1',
      [Env.CHECKPOINT_DIR]: checkpoints,
      [Env.METRICS_PORT]: '0',
    }),
    timeoutMs: 60_000,
  });
  return { help, start };
}

/** Asserts what startWorker's two runs must show; the message carries both outputs. */
export function expectWorkerStarts({ help, start }: { help: RunResult; start: RunResult }): void {
  const helpOut = `${help.stdout}${help.stderr}`;
  if (
    help.status !== 0 ||
    !help.stdout.startsWith('Usage: agent-worker') ||
    !help.stdout.includes(Env.AGENT_HANDLER)
  ) {
    throw new Error(`agent-worker --help: expected exit 0 and the usage\n${describeRun(help)}`);
  }
  if (/Cannot find module|MODULE_NOT_FOUND/.test(helpOut)) {
    throw new Error(`agent-worker --help: a module is missing\n${describeRun(help)}`);
  }
  const startOut = `${start.stdout}${start.stderr}`;
  if (start.status !== ExitCode.dependencyUnreachable || !/cannot reach the broker/.test(startOut)) {
    throw new Error(
      `agent-worker with a handler and no broker: expected exit ${ExitCode.dependencyUnreachable} ` +
        `("cannot reach the broker")\n${describeRun(start)}`,
    );
  }
  if (/Cannot find module|MODULE_NOT_FOUND/.test(startOut)) {
    throw new Error(`agent-worker: a module is missing\n${describeRun(start)}`);
  }
}

/**
 * Every external FROM of the Dockerfile is the official node image on a numeric major tag (never
 * `latest`, explicit or implied), pinned by digest: a literal `@sha256:<64 hex>`, or
 * `@${NODE_DIGEST...}` where NODE_DIGEST is a global ARG with no default (or a real sha256 default),
 * required by the first FROM (`:?`) so a build without it stops at once. Every stage's Node, the
 * runtime's above all, is an LTS line this project supports: 22 or 24, not 20 (end of life since
 * April 2026).
 */
export function expectPinnedNodeLts(dockerfile: Dockerfile): void {
  const bases = baseImages(dockerfile);
  expect(bases.length).toBeGreaterThan(0);
  const digestDefault = dockerfile.globalArgs.get('NODE_DIGEST');
  for (const { stage, reference } of bases) {
    const where = `FROM ${stage.from}`;
    expect({ where, repository: reference.repository, tag: reference.tag }).toEqual({
      where,
      repository: 'node',
      tag: expect.stringMatching(/^\d+(-[a-z0-9.-]+)?$/),
    });
    expect({ where, latest: /latest/i.test(stage.from) }).toEqual({ where, latest: false });
    expect({
      where,
      pinned: /@(sha256:[0-9a-f]{64}|\$\{NODE_DIGEST(:\?[^}]*)?\})$/.test(stage.from),
    }).toEqual({
      where,
      pinned: true,
    });
  }
  if (bases.some(({ stage }) => stage.from.includes('${NODE_DIGEST'))) {
    expect(dockerfile.globalArgs.has('NODE_DIGEST')).toBe(true);
    // No invented placeholder: either no default (required) or a real digest.
    if (digestDefault === undefined) expect(bases[0].required).toContain('NODE_DIGEST');
    else expect(digestDefault).toMatch(/^sha256:[0-9a-f]{64}$/);
  }
  // Every stage, the runtime (last) one above all.
  for (const { stage, reference } of bases) {
    const major = Number(/^(\d+)/.exec(reference.tag ?? '')?.[1]);
    expect({ from: stage.from, tag: reference.tag, supported: major === 22 || major === 24 }).toEqual({
      from: stage.from,
      tag: reference.tag,
      supported: true,
    });
  }
}
