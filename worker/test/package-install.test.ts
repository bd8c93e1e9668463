/**
 * `agent-worker` works from a plain `npm install` of the worker package, as an image
 * would install it. Packs the package exactly as `npm publish` would, installs the tarball into an
 * empty project (production dependencies only; npm's cache serves them when it has them), and runs
 * the linked bin: with an invalid environment it must start, name the bad variable and exit with the
 * contract's configuration-error code.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Env, ExitCode } from '@agent-fleet/contract';
import { makeTempDir, WORKER_ROOT } from './support/harness';

test('the packed package installs and its agent-worker bin runs', () => {
  const packDir = makeTempDir('pack-');
  // The worker depends on the contract package, which no registry has yet: pack both.
  for (const dir of [path.join(WORKER_ROOT, '..', 'contract'), WORKER_ROOT]) {
    execFileSync('npm', ['pack', '--pack-destination', packDir], { cwd: dir, stdio: 'pipe' });
  }
  const tarballs = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  expect(tarballs.sort()).toEqual([
    expect.stringMatching(/^agent-fleet-contract-.*\.tgz$/),
    expect.stringMatching(/^agent-fleet-worker-.*\.tgz$/),
  ]);

  const app = makeTempDir('install-');
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'agent-image', private: true }));
  writeFileSync(path.join(app, 'handler.js'), 'module.exports = async (input) => input;\n');
  execFileSync(
    'npm',
    [
      'install',
      '--omit=dev',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      ...tarballs.map((t) => path.join(packDir, t)),
    ],
    { cwd: app, stdio: 'pipe' },
  );

  const bin = path.join(app, 'node_modules', '.bin', 'agent-worker');
  const run = spawnSync(bin, [], {
    cwd: app,
    env: {
      PATH: process.env.PATH ?? '',
      [Env.AGENT_HANDLER]: path.join(app, 'handler.js'),
      [Env.TASK_QUEUE_URL]: 'not-a-url',
      [Env.METRICS_PORT]: '0',
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(run.status).toBe(ExitCode.configError);
  // The bad variable is named; its value is not echoed, since a malformed URL may still hold a password.
  expect(`${run.stdout}${run.stderr}`).toMatch(new RegExp(`${Env.TASK_QUEUE_URL}.*is not a URL`));
}, 120_000);
