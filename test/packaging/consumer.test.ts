/**
 * The packages as a platform team gets them from a registry. Packs the four packages (their
 * prepack builds them), checks what each tarball ships, then installs the tarballs into throwaway
 * repositories next to the registry's cdk8s 2.68.12, constructs 10.3.0 and cdk8s-plus-30 2.4.10 (the
 * low end of our peer ranges, not the versions this repository develops with):
 * - a platform repo with the constructs: one copy of cdk8s and of constructs (nested copies failed with
 *   `TypeError: scope.node._scopes is not iterable`) and none of the worker's or CLI's runtime
 *   dependencies; then, with the validator added as a dev dependency, its chart type-checks against
 *   the shipped .d.ts files, `cdk8s synth` (the real CLI) writes the manifest with the validation
 *   plugin of its cdk8s.yaml passing, fails on a hand-written broken object naming its construct path,
 *   and its own jest snapshot test (which runs `expectValidManifests`) passes twice (the second time
 *   with --ci);
 * - an agent repo with the worker: `agent-worker` starts, and the install that examples/agent/
 *   Dockerfile runs (`npm ci --omit=dev` from the agent's lockfile) gives the entrypoint it names;
 * - an ops repo with the CLI: `agent-fleet --version`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseDockerfile } from '../../testkit/dockerfile';
import { describeRun, type RunResult, run, runOk } from '../../testkit/exec';
import {
  copiesOf,
  createProject,
  installedPackages,
  type LsNode,
  namesInTree,
  npmInstall,
  npmLs,
  renderTree,
  tempDir,
} from '../../testkit/npm-tree';
import { PACKAGES, type PackageKey, packAll, REPO_ROOT, readTarball, type Tarball } from '../../testkit/pack';
import { expectPinnedNodeLts, expectWorkerStarts, startWorker } from './support';

// Packs, three npm installs, tsc, cdk8s synth and two nested jest runs: minutes, not seconds.
jest.setTimeout(300_000);

/** The peers a platform team installs: the lowest versions of our peer ranges. */
const PEERS = ['cdk8s@2.68.12', 'constructs@10.3.0', 'cdk8s-plus-30@2.4.10'];

/** Runtime dependencies of the worker and the CLI, which a constructs-only install must not pull. */
const NOT_IN_A_CONSTRUCTS_INSTALL = [
  'amqplib',
  '@kubernetes/client-node',
  'commander',
  'cli-progress',
  'pino',
  'prom-client',
  'cockatiel',
  '@agent-fleet/worker',
  '@agent-fleet/cli',
];

const FIXTURE = path.join(__dirname, 'fixtures', 'platform');
const TSC = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const CDK8S = path.join(REPO_ROOT, 'node_modules', '.bin', 'cdk8s');
const JEST = path.join(REPO_ROOT, 'node_modules', 'jest', 'bin', 'jest.js');

const timings: Record<string, number> = {};
let work: string;
let tarballs: Record<PackageKey, Tarball>;
/** `@agent-fleet/validate`, packed with the others by the same `npm pack --workspaces`. */
let validateTarball: Tarball;
let platformDir: string;
let agentDir: string;
let opsDir: string;

function tgz(...keys: PackageKey[]): string[] {
  return keys.map((key) => tarballs[key].file);
}

async function timed<T extends RunResult>(name: string, promise: Promise<T>): Promise<T> {
  const result = await promise;
  timings[name] = result.ms;
  return result;
}

beforeAll(async () => {
  const started = Date.now();
  work = tempDir('packaging');
  const packed = await packAll(path.join(work, 'tarballs'));
  timings.pack = packed.ms;
  tarballs = packed;
  const validateFile = readdirSync(path.join(work, 'tarballs')).find((f) =>
    /^agent-fleet-validate-.*\.tgz$/.test(f),
  );
  if (!validateFile) throw new Error('npm pack wrote no tarball for @agent-fleet/validate');
  validateTarball = readTarball(path.join(work, 'tarballs', validateFile));

  // Its jest settings: plain CommonJS tests, no transform.
  platformDir = createProject(path.join(work, 'platform'), 'platform', {
    jest: { testEnvironment: 'node', transform: {} },
  });
  agentDir = createProject(path.join(work, 'agent'), 'my-agent');
  opsDir = createProject(path.join(work, 'ops'), 'ops');
  // Independent installs (the npm cache is safe to share): at once.
  await Promise.all([
    timed('install platform', npmInstall(platformDir, [...tgz('contract', 'cdk8s'), ...PEERS])),
    timed('install agent', npmInstall(agentDir, tgz('contract', 'worker'))),
    timed(
      'install ops',
      npmInstall(opsDir, [...tgz('contract', 'cdk8s', 'cli'), validateTarball.file, ...PEERS]),
    ),
  ]);
  timings['beforeAll total'] = Date.now() - started;
});

afterAll(() => {
  console.log(
    `packaging timings (ms): ${Object.entries(timings)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  if (work && !process.env.KEEP_PACKAGING_DIR) rmSync(work, { recursive: true, force: true });
});

/**
 * The non-code files each package ships besides package.json. The root package also ships the
 * repository's CHANGELOG.md (all four packages are versioned together and it covers them all).
 */
const DOCS: Record<PackageKey, string[]> = {
  contract: ['README.md', 'LICENSE'],
  cdk8s: ['README.md', 'LICENSE', 'CHANGELOG.md'],
  worker: ['README.md', 'LICENSE'],
  cli: ['README.md', 'LICENSE'],
};

/** Where a package's compiled files come from, to tell a current output from a stale one. */
function sourceOf(key: PackageKey, entry: string): string | undefined {
  const stem = entry.replace(/(\.d\.ts|\.js\.map|\.js)$/, '');
  if (key === 'cdk8s') {
    const match = /^dist\/(lib|imports)\/(.*)$/.exec(stem);
    return match ? path.join(REPO_ROOT, match[1], `${match[2]}.ts`) : undefined;
  }
  const match = /^dist\/(.*)$/.exec(stem);
  return match ? path.join(REPO_ROOT, PACKAGES[key].dir, 'src', `${match[1]}.ts`) : undefined;
}

describe.each(Object.keys(PACKAGES) as PackageKey[])('the %s tarball', (key) => {
  const packageDir = path.join(REPO_ROOT, PACKAGES[key].dir);

  test('ships the compiled files, README.md and LICENSE (the root also CHANGELOG.md), and nothing else', () => {
    const { entries, manifest } = tarballs[key];
    expect(manifest.files).toEqual(expect.arrayContaining(['README.md', 'LICENSE']));
    const docs = DOCS[key];
    const unexpected = entries.filter(
      (entry) =>
        !['package.json', ...docs].includes(entry) &&
        !(/^dist\/.+\.(js|d\.ts|js\.map)$/.test(entry) && sourceOf(key, entry) !== undefined),
    );
    expect(unexpected).toEqual([]);
    expect(entries.filter((e) => /(^|\/)(test|tests|__snapshots__|examples|bench)\//.test(e))).toEqual([]);
    expect(entries.filter((e) => e.endsWith('.tsbuildinfo'))).toEqual([]);
    // The docs ship whenever the package folder has them (LICENSE files are being added).
    for (const doc of docs) {
      expect({ doc, shipped: entries.includes(doc) }).toEqual({
        doc,
        shipped: existsSync(path.join(packageDir, doc)),
      });
    }
  });

  test('every compiled file comes from a current source, with its .d.ts and a source map that embeds it', () => {
    const { entries, file } = tarballs[key];
    // One tar per package rather than one per file.
    const extracted = path.join(work, 'extracted', key);
    rmSync(extracted, { recursive: true, force: true });
    mkdirSync(extracted, { recursive: true });
    execFileSync('tar', ['-xzf', file, '-C', extracted]);
    const js = entries.filter((e) => e.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const entry of js) {
      const source = sourceOf(key, entry);
      if (!source || !existsSync(source)) problems.push(`${entry}: no source ${source} (stale output?)`);
      for (const companion of [entry.replace(/\.js$/, '.d.ts'), `${entry}.map`]) {
        if (!entries.includes(companion)) problems.push(`${entry}: ${companion} is missing`);
      }
      const mapFile = path.join(extracted, 'package', `${entry}.map`);
      if (existsSync(mapFile)) {
        const map = JSON.parse(readFileSync(mapFile, 'utf8')) as {
          sources: string[];
          sourcesContent?: string[];
        };
        const complete =
          map.sourcesContent?.length === map.sources.length &&
          map.sourcesContent.every((content) => typeof content === 'string' && content.length > 0);
        if (!complete) problems.push(`${entry}.map: sourcesContent is missing (inlineSources)`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('its entry points and bins are in the tarball', () => {
    const { entries, manifest } = tarballs[key];
    const targets = [
      manifest.main,
      manifest.types,
      ...Object.values(manifest.bin ?? {}),
      ...(JSON.stringify(manifest.exports ?? {})
        .match(/"\.\/[^"]+"/g)
        ?.map((s) => s.slice(1, -1)) ?? []),
    ]
      .filter((t): t is string => typeof t === 'string')
      .map((t) => t.replace(/^\.\//, ''));
    expect(targets.length).toBeGreaterThan(0);
    expect(targets.filter((t) => !entries.includes(t))).toEqual([]);
  });
});

describe('the validate tarball', () => {
  test('ships the compiled files, the schemas, README.md and LICENSE, and nothing else', () => {
    const { entries, manifest } = validateTarball;
    const unexpected = entries.filter(
      (e) =>
        !['package.json', 'README.md', 'LICENSE', 'schemas/kubernetes-1.32-fields.json'].includes(e) &&
        !/^schemas\/crds\/[a-z0-9._-]+\.json$/.test(e) &&
        !(
          /^dist\/[a-z0-9/-]+\.(js|d\.ts|js\.map)$/.test(e) &&
          existsSync(
            path.join(
              REPO_ROOT,
              'validate',
              'src',
              `${e.replace(/^dist\/|(\.d\.ts|\.js\.map|\.js)$/g, '')}.ts`,
            ),
          )
        ),
    );
    expect(unexpected).toEqual([]);
    for (const needed of [
      'dist/index.js',
      'dist/index.d.ts',
      'schemas/crds/keda.sh_scaledjob_v1alpha1.json',
      'README.md',
      'LICENSE',
    ]) {
      expect({ needed, shipped: entries.includes(needed) }).toEqual({ needed, shipped: true });
    }
    // Usable without cdk8s: hand-written manifests, `agent-fleet lint`.
    expect(Object.keys(manifest.dependencies ?? {}).sort()).toEqual([
      '@agent-fleet/contract',
      'ajv',
      'kubernetes-models',
    ]);
    expect(manifest.peerDependencies).toBeUndefined();
  });
});

describe('a platform repository with the constructs (then the validator as a dev dependency)', () => {
  let tree: LsNode;

  test('gets one cdk8s, one constructs, and no runtime dependency of the worker or the CLI', async () => {
    tree = await npmLs(platformDir);
    const names = namesInTree(tree);
    expect(NOT_IN_A_CONSTRUCTS_INSTALL.filter((name) => names.has(name))).toEqual([]);
    const onDisk = installedPackages(platformDir).map((p) => p.name);
    expect(NOT_IN_A_CONSTRUCTS_INSTALL.filter((name) => onDisk.includes(name))).toEqual([]);
    for (const [name, version] of [
      ['constructs', '10.3.0'],
      ['cdk8s', '2.68.12'],
      ['cdk8s-plus-30', '2.4.10'],
    ]) {
      expect({ name, copies: copiesOf(platformDir, name) }).toEqual({
        name,
        copies: [{ name, version, location: `node_modules/${name}` }],
      });
    }
    expect(Object.keys(tree.dependencies ?? {}).sort()).toEqual([
      '@agent-fleet/cdk8s',
      '@agent-fleet/contract',
      'cdk8s',
      'cdk8s-plus-30',
      'constructs',
    ]);
    const cdk8sLib = tree.dependencies?.['@agent-fleet/cdk8s'];
    expect(Object.keys(cdk8sLib?.dependencies ?? {}).sort()).toEqual([
      '@agent-fleet/contract',
      'cdk8s',
      'cdk8s-plus-30',
      'constructs',
    ]);
    console.log(`platform repo, npm ls --all --omit=dev (top two levels):\n${renderTree(pruned(tree, 2))}`);
  });

  test('its chart type-checks against the shipped .d.ts files and `cdk8s synth` writes the manifest', async () => {
    // The validator is a dev dependency: cdk8s.yaml's plugin and the snapshot test load it.
    await timed(
      'install validate (platform, --save-dev)',
      npmInstall(platformDir, [validateTarball.file], ['--save-dev']),
    );
    cpSync(path.join(FIXTURE, 'src'), path.join(platformDir, 'src'), { recursive: true });
    cpSync(path.join(FIXTURE, 'tsconfig.json'), path.join(platformDir, 'tsconfig.json'));
    cpSync(path.join(FIXTURE, 'cdk8s.yaml'), path.join(platformDir, 'cdk8s.yaml'));

    // skipLibCheck is off in the consumer's tsconfig: our .d.ts files and the peers' must check.
    await timed(
      'tsc (consumer)',
      runOk(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: platformDir }),
    );

    const synth = await timed(
      'cdk8s synth',
      run(CDK8S, ['synth', '--check-upgrade=false'], { cwd: platformDir }),
    );
    expect({ status: synth.status, output: describeRun(synth) }).toEqual({
      status: 0,
      output: expect.any(String),
    });
    expect(synth.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // no stack trace
    expect(synth.stderr).not.toMatch(/TypeError|_scopes is not iterable/);
    expect(`${synth.stdout}${synth.stderr}`).not.toMatch(/new version|npm (i|install) .*cdk8s-cli/i);
    // cdk8s.yaml's validation plugin ran on the installed package and passed.
    expect(synth.stdout).toMatch(/Validation Report \(.*validate@0\.1\.0\)/);
    expect(synth.stdout).toMatch(/Status\s*│\s*success/);
    expect(synth.stdout).toContain('Validations ended succesfully');

    const file = path.join(platformDir, 'manifests', 'platform.k8s.yaml');
    expect(synth.stdout).toContain('manifests/platform.k8s.yaml');
    const objects = parseAllDocuments(readFileSync(file, 'utf8')).map(
      (doc) => doc.toJSON() as ManifestObject,
    );
    const kinds = objects.map((o) => o.kind);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'ScaledJob',
        'Job',
        'TriggerAuthentication',
        'PersistentVolumeClaim',
        'PodDisruptionBudget',
        'NetworkPolicy',
        'PodMonitor',
        'PrometheusRule',
      ]),
    );

    // The pods run as the agent image's user (worker/Dockerfile's USER).
    const runtime = parseDockerfile(path.join(REPO_ROOT, 'worker', 'Dockerfile')).stages.at(-1);
    const user = runtime?.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
    const [uid, gid] = (user ?? '').split(':').map(Number);
    const job = objects.find((o) => o.kind === 'Job');
    expect(job?.spec?.template?.spec?.securityContext).toMatchObject({
      runAsUser: uid,
      runAsGroup: gid,
      fsGroup: gid,
    });
  });

  test('`cdk8s synth` fails on a hand-written broken object, naming the rule and its construct path', async () => {
    const broken = await timed(
      'cdk8s synth --validate (broken)',
      run(
        CDK8S,
        [
          'synth',
          '--check-upgrade=false',
          '--validate',
          '--app',
          'node dist/broken.js',
          '--output',
          'broken',
        ],
        {
          cwd: platformDir,
        },
      ),
    );
    const output = `${broken.stdout}${broken.stderr}`;
    expect({ status: broken.status, output }).toEqual({
      status: 2,
      output: expect.stringContaining('Validation failed'),
    });
    expect(broken.stdout).toMatch(/AF111 \(error\) A PodDisruptionBudget over Job pods/);
    expect(broken.stdout).toContain('Construct Path: platform/HandWrittenBudget');
    expect(broken.stdout).toContain('spec.maxUnavailable: PodDisruptionBudget agents/batch-budget');
    expect(broken.stdout).toMatch(/Status\s*│\s*failure/);
    // Only the broken object is reported.
    expect(broken.stdout.match(/Construct Path:/g)).toHaveLength(1);
  });

  test('its own jest snapshot test passes, and passes again with --ci against the written snapshot', async () => {
    cpSync(path.join(FIXTURE, 'test'), path.join(platformDir, 'test'), { recursive: true });
    const jestArgs = [JEST, '--rootDir', platformDir, '--json', '--watchman=false'];
    const cache = ['--cacheDirectory', path.join(work, 'jest-cache')];

    const first = await timed(
      'jest (consumer, writes snapshot)',
      run(process.execPath, [...jestArgs, ...cache, '--ci=false'], { cwd: platformDir }),
    );
    expect({ status: first.status, output: describeRun(first) }).toEqual({
      status: 0,
      output: expect.any(String),
    });
    const firstReport = JSON.parse(first.stdout) as JestReport;
    expect(firstReport).toMatchObject({
      success: true,
      numPassedTests: 1,
      snapshot: { added: 1, unmatched: 0 },
    });
    const snapDir = path.join(platformDir, 'test', '__snapshots__');
    const [snapFile] = readdirSync(snapDir);
    const snapshot = readFileSync(path.join(snapDir, snapFile), 'utf8');
    expect(snapshot).toContain('"kind": "ScaledJob"');
    const written = statSync(path.join(snapDir, snapFile)).mtimeMs;

    const second = await timed(
      'jest (consumer, --ci)',
      run(process.execPath, [...jestArgs, ...cache, '--ci'], { cwd: platformDir }),
    );
    expect({ status: second.status, output: describeRun(second) }).toEqual({
      status: 0,
      output: expect.any(String),
    });
    const secondReport = JSON.parse(second.stdout) as JestReport;
    expect(secondReport).toMatchObject({
      success: true,
      numPassedTests: 1,
      snapshot: { added: 0, matched: 1, unmatched: 0, updated: 0 },
    });
    expect(statSync(path.join(snapDir, snapFile)).mtimeMs).toBe(written);
    expect(readFileSync(path.join(snapDir, snapFile), 'utf8')).toBe(snapshot);
  });
});

interface ManifestObject {
  kind: string;
  spec?: { template?: { spec?: { securityContext?: Record<string, unknown> } } };
}

interface JestReport {
  success: boolean;
  numPassedTests: number;
  snapshot: { added: number; matched: number; unmatched: number; updated: number };
}

function pruned(node: LsNode, depth: number): LsNode {
  if (depth === 0) return { version: node.version };
  return {
    version: node.version,
    dependencies: Object.fromEntries(
      Object.entries(node.dependencies ?? {}).map(([name, child]) => [name, pruned(child, depth - 1)]),
    ),
  };
}

describe('an agent repository with the worker', () => {
  test('gets the worker and its runtime dependencies only, and agent-worker starts', async () => {
    const names = installedPackages(agentDir).map((p) => p.name);
    for (const absent of [
      'cdk8s',
      'constructs',
      'cdk8s-plus-30',
      '@agent-fleet/cdk8s',
      '@agent-fleet/cli',
      'commander',
    ]) {
      expect({ absent, installed: names.includes(absent) }).toEqual({ absent, installed: false });
    }
    for (const present of [
      '@agent-fleet/contract',
      '@agent-fleet/worker',
      'amqplib',
      'pino',
      'prom-client',
      'cockatiel',
    ]) {
      expect({ present, installed: names.includes(present) }).toEqual({ present, installed: true });
    }
    console.log(`agent repo, npm ls --all --omit=dev:\n${renderTree(await npmLs(agentDir))}`);
    expectWorkerStarts(
      await startWorker([path.join(agentDir, 'node_modules', '.bin', 'agent-worker')], agentDir),
    );
  });

  test("examples/agent/Dockerfile's production install gives the entrypoint it names", async () => {
    const dockerfile = parseDockerfile(path.join(REPO_ROOT, 'examples', 'agent', 'Dockerfile'));
    // The stage that installs the production dependencies and the runtime stage.
    const deps = dockerfile.stages.find((s) => s.name === 'deps');
    const runtime = dockerfile.stages.at(-1);
    const install = deps?.instructions.find((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    expect(install?.args).toMatch(/npm ci\b.*--omit=dev/);
    const command = (install?.args ?? '').replace(/--mount=\S+\s*/g, '');
    // In the image the lockfile is the agent's own; here: the one `npm install` just wrote.
    const imageDir = createProject(path.join(work, 'agent-image'), 'unused');
    for (const f of ['package.json', 'package-lock.json'])
      cpSync(path.join(agentDir, f), path.join(imageDir, f));
    await timed('npm ci (examples/agent/Dockerfile)', runOk('sh', ['-c', command], { cwd: imageDir }));

    const entrypoint = JSON.parse(
      runtime?.instructions.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? '[]',
    ) as string[];
    expect(entrypoint[0]).toBe('node');
    expect(entrypoint[1]).toMatch(/^\/app\//);
    const local = path.join(imageDir, entrypoint[1].replace(/^\/app\//, ''));
    expect(existsSync(local)).toBe(true);
    expectWorkerStarts(await startWorker([process.execPath, local], imageDir));

    expectPinnedNodeLts(dockerfile);
  });
});

describe('an ops repository with the CLI', () => {
  test('agent-fleet --version prints the package version', async () => {
    const version = await runOk(path.join(opsDir, 'node_modules', '.bin', 'agent-fleet'), ['--version'], {
      cwd: opsDir,
    });
    expect(version.stdout.trim()).toBe(tarballs.cli.manifest.version);
    expect(version.stdout.trim()).toBe('0.1.0');
    for (const name of ['cdk8s', 'constructs']) {
      expect({ name, copies: copiesOf(opsDir, name).length }).toEqual({ name, copies: 1 });
    }
  });
});
