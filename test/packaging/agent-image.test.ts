/**
 * The agent image without a Docker engine. Runs worker/Dockerfile's build stage in a temp dir
 * standing for its file system (testkit/docker-sim: its COPYs from the repository through
 * .dockerignore, then its RUNs: `npm ci` from the committed lockfile, `tsc -b worker`, the example
 * handler's compile, and worker/scripts/install-production.sh, the one place the production install
 * is written), then the runtime stage's COPYs; runs the install script a second time into another
 * directory; and checks the production tree: exactly the worker's production dependency closure of
 * the committed lockfile (no devDependencies, no floating versions), identical on both runs, and
 * the Dockerfile's entrypoint starts from it with the image's ENV. Also checks the Dockerfile
 * itself: stages, base images (no `latest`, digest-pinned, Node 22/24), user and entrypoint.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { inStage, type SimulatedStage, simulateStage } from '../../testkit/docker-sim';
import { type Dockerfile, dockerignore, parseDockerfile } from '../../testkit/dockerfile';
import { runOk } from '../../testkit/exec';
import { type InstalledPackage, installedPackages, tempDir } from '../../testkit/npm-tree';
import { REPO_ROOT } from '../../testkit/pack';
import { expectPinnedNodeLts, expectWorkerStarts, startWorker } from './support';

// The build stage's npm ci of ~500 packages and tsc, a second install, four worker starts.
jest.setTimeout(300_000);

const DOCKERFILE = path.join(REPO_ROOT, 'worker', 'Dockerfile');
const SCRIPT = 'worker/scripts/install-production.sh';

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  peer?: boolean;
  hasInstallScript?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

/** Where Node would find `name` from the package at lockfile location `from` (nearest node_modules). */
function resolveInLock(from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (base === '') return undefined;
    const up = base.lastIndexOf('/node_modules/');
    base = up === -1 ? '' : base.slice(0, up);
  }
}

/**
 * The worker's production closure according to the committed lockfile: lockfile locations
 * reachable from the `worker` workspace through dependencies, optional dependencies and
 * non-optional peers, following workspace links.
 */
function productionClosure(): Map<string, LockEntry> {
  const closure = new Map<string, LockEntry>();
  const visit = (location: string) => {
    if (closure.has(location)) return;
    const entry = lock.packages[location];
    closure.set(location, entry);
    const target = entry.link && entry.resolved !== undefined ? entry.resolved : location;
    const pkg = lock.packages[target];
    const peers = Object.keys(pkg.peerDependencies ?? {}).filter(
      (name) => !pkg.peerDependenciesMeta?.[name]?.optional,
    );
    for (const name of [
      ...Object.keys(pkg.dependencies ?? {}),
      ...Object.keys(pkg.optionalDependencies ?? {}),
      ...peers,
    ]) {
      const found = resolveInLock(target, name);
      if (found) visit(found);
      else if (!(name in (pkg.optionalDependencies ?? {})))
        throw new Error(`${target}: ${name} not in the lockfile`);
    }
  };
  visit('node_modules/@agent-fleet/worker');
  return closure;
}

function treeOf(dir: string): string[] {
  return installedPackages(dir).map((p: InstalledPackage) => `${p.location} ${p.name}@${p.version}`);
}

let dockerfile: Dockerfile;
let work: string;
let build: SimulatedStage;
let runtime: SimulatedStage;
/** The production tree: the runtime image's /app, and the script's second run. */
const dirs: string[] = [];
const trees: string[][] = [];
const timings: Record<string, number> = {};

/** The runtime stage's ENV lines (`KEY=value ...`), with /app paths mapped into the simulated root. */
function runtimeEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const stage = dockerfile.stages.at(-1);
  for (const i of stage?.instructions.filter((i) => i.keyword === 'ENV') ?? []) {
    for (const [, key, value] of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g)) {
      env[key] = value.startsWith('/') ? inStage(runtime.root, value) : value;
    }
  }
  return env;
}

beforeAll(async () => {
  dockerfile = parseDockerfile(DOCKERFILE);
  work = tempDir('worker-image');
  const buildStage = dockerfile.stages.find((s) => s.name === 'build');
  const runtimeStage = dockerfile.stages.at(-1);
  if (!buildStage || !runtimeStage) throw new Error('worker/Dockerfile has no build or runtime stage');

  let started = Date.now();
  build = await simulateStage({
    dockerfile,
    stage: buildStage,
    context: REPO_ROOT,
    root: path.join(work, 'build'),
  });
  timings['build stage'] = Date.now() - started;
  // The runtime stage's RUN changes the system (removes npm, creates /checkpoints): COPYs only.
  runtime = await simulateStage({
    dockerfile,
    stage: runtimeStage,
    context: REPO_ROOT,
    root: path.join(work, 'runtime'),
    stages: { build },
    skipRun: true,
  });
  dirs.push(inStage(runtime.root, '/app'));
  trees.push(treeOf(dirs[0]));

  // Again, into a fresh directory, from the same sources: as a second image build would.
  started = Date.now();
  const again = path.join(work, 'again', 'app');
  await runOk('sh', [path.join(REPO_ROOT, SCRIPT), inStage(build.root, '/src'), again], {
    cwd: REPO_ROOT,
    timeoutMs: 180_000,
  });
  timings['install-production.sh again'] = Date.now() - started;
  dirs.push(again);
  trees.push(treeOf(again));
});

afterAll(() => {
  console.log(
    `agent image timings (ms): ${Object.entries(timings)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; build stage RUNs: ${build?.runs.map((r) => r.ms).join(', ')}`,
  );
  if (work && !process.env.KEEP_PACKAGING_DIR) rmSync(work, { recursive: true, force: true });
});

describe('worker/Dockerfile', () => {
  test('runs the production install script in its build stage and copies that tree into the runtime', () => {
    const build = dockerfile.stages.find((s) => s.name === 'build');
    const runtime = dockerfile.stages.at(-1);
    expect(
      build?.instructions.some((i) => i.keyword === 'RUN' && i.args.includes(`sh ${SCRIPT} /src /app`)),
    ).toBe(true);
    // The build stage installs from the committed lockfile too.
    expect(build?.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
    expect(build?.instructions.some((i) => i.keyword === 'RUN' && /\bnpm (i|install)\b/.test(i.args))).toBe(
      false,
    );
    expect(
      runtime?.instructions.some(
        (i) => i.keyword === 'COPY' && /--from=build \/app\/? \/app\/?$/.test(i.args),
      ),
    ).toBe(true);
    // No package manager runs in the runtime stage (it removes them).
    expect(
      runtime?.instructions.filter((i) => i.keyword === 'RUN' && /\bnpm (ci|i|install)\b/.test(i.args)),
    ).toEqual([]);
  });

  test('bases every stage on a digest-pinned Node LTS (22 or 24), never `latest`, never Node 20', () => {
    expectPinnedNodeLts(dockerfile);
  });

  test('runs as UID/GID 1000 with Node as PID 1 on the agent-worker bin', () => {
    const runtime = dockerfile.stages.at(-1);
    const last = (keyword: string) => runtime?.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
    expect(last('USER')).toBe('1000:1000');
    const entrypoint = JSON.parse(last('ENTRYPOINT') ?? 'null') as string[];
    expect(entrypoint).toEqual(['node', '/app/node_modules/@agent-fleet/worker/dist/bin.js']);
    // /checkpoints belongs to the agent's user; /app stays root's (COPY without --chown).
    expect(
      runtime?.instructions.some((i) => i.keyword === 'RUN' && /chown 1000:1000 \/checkpoints/.test(i.args)),
    ).toBe(true);
    expect(runtime?.instructions.filter((i) => i.keyword === 'COPY' && /--chown/.test(i.args))).toEqual([]);
  });

  test('the root .dockerignore keeps build output out and lets every file the Dockerfile copies in', () => {
    const ignored = dockerignore(readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8'));
    for (const excluded of [
      'node_modules',
      'worker/node_modules',
      'dist',
      'worker/dist',
      'contract/dist',
      '.git',
    ]) {
      expect({ excluded, ignored: ignored(excluded) }).toEqual({ excluded, ignored: true });
    }
    for (const needed of [
      'package.json',
      'package-lock.json',
      'tsconfig.base.json',
      'contract/package.json',
      'contract/tsconfig.json',
      'contract/src/index.ts',
      'worker/package.json',
      'worker/tsconfig.json',
      'worker/src/bin.ts',
      SCRIPT,
      'examples/agent/handler.ts',
    ]) {
      expect({ needed, exists: existsSync(path.join(REPO_ROOT, needed)), ignored: ignored(needed) }).toEqual({
        needed,
        exists: true,
        ignored: false,
      });
    }
  });
});

describe("the image's production tree (worker/scripts/install-production.sh)", () => {
  test('is exactly the worker production closure of the committed lockfile, at its versions', () => {
    const closure = productionClosure();
    const expected = [...closure.entries()]
      .map(([location, entry]) => {
        const target = entry.link && entry.resolved !== undefined ? lock.packages[entry.resolved] : entry;
        return { location, version: target.version };
      })
      .sort((a, b) => a.location.localeCompare(b.location));
    const installed = installedPackages(dirs[0]).map(({ location, version }) => ({ location, version }));
    expect(installed).toEqual(expected);
    // Every registry package carries the lockfile's integrity hash (npm ci verified the tarballs).
    const hidden = JSON.parse(
      readFileSync(path.join(dirs[0], 'node_modules', '.package-lock.json'), 'utf8'),
    ) as {
      packages: Record<string, LockEntry>;
    };
    for (const [location, entry] of closure) {
      if (entry.link) continue;
      expect({ location, integrity: hidden.packages[location]?.integrity }).toEqual({
        location,
        integrity: entry.integrity,
      });
      // --ignore-scripts in the script is safe only while no package of the closure has one.
      expect({ location, hasInstallScript: entry.hasInstallScript ?? false }).toEqual({
        location,
        hasInstallScript: false,
      });
    }
    console.log(`worker image production tree (node_modules):\n${trees[0].join('\n')}`);
  });

  test('holds no devDependencies and none of the root package or CLI dependencies', () => {
    const names = installedPackages(dirs[0]).map((p) => p.name);
    const forbidden = names.filter(
      (name) =>
        name.startsWith('@types/') ||
        [
          'typescript',
          'jest',
          'ts-jest',
          '@biomejs/biome',
          'cdk8s',
          'cdk8s-cli',
          'cdk8s-plus-30',
          'constructs',
          'fast-check',
          'yaml',
          'commander',
          'cli-progress',
          '@kubernetes/client-node',
          '@agent-fleet/cdk8s',
          '@agent-fleet/cli',
        ].includes(name),
    );
    expect(forbidden).toEqual([]);
    expect(existsSync(path.join(dirs[0], 'cli'))).toBe(false);
  });

  test('is identical on a second run (versions come from the lockfile, not from ranges)', () => {
    expect(trees[1]).toEqual(trees[0]);
    const hidden = (dir: string) =>
      readFileSync(path.join(dir, 'node_modules', '.package-lock.json'), 'utf8');
    expect(hidden(dirs[1])).toBe(hidden(dirs[0]));
  });

  test("starts the Dockerfile's entrypoint with the image's ENV and its example handler", async () => {
    const stage = dockerfile.stages.at(-1);
    const entrypoint = JSON.parse(
      stage?.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)?.args ?? '[]',
    ) as string[];
    const local = entrypoint.map((arg) => (arg.startsWith('/') ? inStage(runtime.root, arg) : arg));
    expect(existsSync(local[1])).toBe(true);
    const env = runtimeEnv();
    // The image's default AGENT_HANDLER: the example agent, compiled by the build stage.
    expect(env.AGENT_HANDLER).toBe(inStage(runtime.root, '/app/examples/agent/handler.js'));
    expect(existsSync(env.AGENT_HANDLER ?? '')).toBe(true);
    expect(env.NODE_ENV).toBe('production');
    const scratch = path.join(work, 'scratch');
    // node <bin> as in the image; the example handler loads @agent-fleet/worker from /app/node_modules.
    expectWorkerStarts(
      await startWorker([process.execPath, ...local.slice(1)], inStage(runtime.root, '/app'), {
        env,
        handler: env.AGENT_HANDLER,
        scratch,
      }),
    );
    // And with a handler of the user's (AGENT_HANDLER elsewhere).
    expectWorkerStarts(await startWorker([process.execPath, ...local.slice(1)], scratch, { env, scratch }));
  });
});
