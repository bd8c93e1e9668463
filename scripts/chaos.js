#!/usr/bin/env node
// `npm run test:chaos -- [--large] [--seed <n>] [--write-doc [path]]`: runs the worker's chaos suite
// (worker/test/chaos.test.ts) through jest, then prints its one-line summary as the very last line
// and exits with jest's exit code. The flags become the env vars the suite reads (CHAOS_SIZE,
// CHAOS_SEED, CHAOS_WRITE_DOC, CHAOS_SUMMARY_FILE); see worker/README.md, "Chaos suite".
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Command, InvalidArgumentError } = require('commander');

const ROOT = path.join(__dirname, '..');
const TEST = 'worker/test/chaos.test.ts';
const DEFAULT_DOC = 'docs/RELIABILITY.md';

const program = new Command()
  .name('test:chaos')
  .description(
    'Run the worker chaos suite (kills, broker restart, poison, outage, corruption, consumer_timeout).',
  )
  .option(
    '--large',
    'soak size: 8 workers, 5,000 tasks, 100 SIGTERM + 100 SIGKILL (default size: 4, 500, 20 + 20)',
  )
  .option('--seed <n>', 'seed of the tasks, the injection plan and the victims', (value) => {
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new InvalidArgumentError('expected an integer');
    }
    return value;
  })
  .option('--write-doc [path]', `on success, write the figures as Markdown (default ${DEFAULT_DOC})`)
  .allowExcessArguments(false)
  .parse();

const opts = program.opts();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-chaos-'));
const summaryFile = path.join(tmp, 'summary.txt');
const env = { ...process.env, CHAOS_SIZE: opts.large ? 'large' : 'default', CHAOS_SUMMARY_FILE: summaryFile };
if (opts.seed !== undefined) env.CHAOS_SEED = opts.seed;
if (opts.writeDoc) {
  env.CHAOS_WRITE_DOC = path.resolve(ROOT, opts.writeDoc === true ? DEFAULT_DOC : opts.writeDoc);
}

const jest = path.join(ROOT, 'node_modules', '.bin', 'jest');
// --runTestsByPath: a positional right after `--selectProjects worker` would be read as a project.
const args = ['--selectProjects', 'worker', '--runTestsByPath', TEST];
const started = Date.now();
const child = spawn(jest, args, { cwd: ROOT, env, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('error', (error) => {
  console.error(`test:chaos: could not start jest: ${error.message}`);
  process.exit(1);
});
child.on('close', (code, signal) => {
  const exitCode = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
  let summary;
  try {
    summary = readFileSync(summaryFile, 'utf8').trim();
  } catch {
    summary = 'no summary: the chaos suite did not get as far as its figures';
  }
  rmSync(tmp, { recursive: true, force: true });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\ntest:chaos: jest exited with ${exitCode} after ${seconds} s`);
  if (env.CHAOS_WRITE_DOC) {
    console.log(
      exitCode === 0
        ? `test:chaos: wrote ${path.relative(ROOT, env.CHAOS_WRITE_DOC)}`
        : `test:chaos: not written (the suite failed): ${path.relative(ROOT, env.CHAOS_WRITE_DOC)}`,
    );
  }
  console.log(summary);
  process.exit(exitCode);
});
