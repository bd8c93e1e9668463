/**
 * The repository's packages as a registry would serve them: `npm pack` of every workspace and the
 * root into a directory, exactly what `npm publish` uploads (the `files` lists, `prepack` builds),
 * then read back from the tarballs themselves rather than from npm's report.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { runOk } from './exec';

export const REPO_ROOT = path.join(__dirname, '..');

/** The packages of this repository, by name, with the folder each is packed from. */
export const PACKAGES = {
  contract: { name: '@agent-fleet/contract', dir: 'contract' },
  cdk8s: { name: '@agent-fleet/cdk8s', dir: '.' },
  worker: { name: '@agent-fleet/worker', dir: 'worker' },
  cli: { name: '@agent-fleet/cli', dir: 'cli' },
} as const;

export type PackageKey = keyof typeof PACKAGES;

export interface PackageManifest {
  readonly name: string;
  readonly version: string;
  readonly files?: string[];
  readonly bin?: Record<string, string>;
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly [key: string]: unknown;
}

export interface Tarball {
  /** Absolute path of the .tgz. */
  readonly file: string;
  /** Its package.json. */
  readonly manifest: PackageManifest;
  /** File paths inside the package (without tar's `package/` prefix), sorted. */
  readonly entries: string[];
}

/** Reads one file out of a tarball (a path inside the package, e.g. `dist/index.js.map`). */
export function readTarballFile(tarball: string, entry: string): string {
  return execFileSync('tar', ['-xzOf', tarball, `package/${entry}`], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
}

export function readTarball(file: string): Tarball {
  const entries = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line !== '' && !line.endsWith('/'))
    .map((line) => line.replace(/^package\//, ''))
    .sort();
  const manifest = JSON.parse(readTarballFile(file, 'package.json')) as PackageManifest;
  return { file, manifest, entries };
}

export interface PackOptions {
  /** Where the repository is. @default this repository */
  readonly repoRoot?: string;
  /**
   * Passes `--ignore-scripts` (no `prepack` build). Only for callers that built the packages
   * themselves just before, e.g. with `tsc -b tsconfig.json cli`.
   * @default false: every package builds through its own prepack, as on `npm publish`
   */
  readonly ignoreScripts?: boolean;
}

/**
 * Packs the root package and every workspace into `destination` (one `npm pack --workspaces
 * --include-workspace-root --pack-destination`) and returns the tarballs by package key.
 */
export async function packAll(
  destination: string,
  options: PackOptions = {},
): Promise<Record<PackageKey, Tarball> & { ms: number }> {
  mkdirSync(destination, { recursive: true });
  const result = await runOk(
    'npm',
    [
      'pack',
      '--workspaces',
      '--include-workspace-root',
      '--pack-destination',
      destination,
      ...(options.ignoreScripts ? ['--ignore-scripts'] : []),
    ],
    { cwd: options.repoRoot ?? REPO_ROOT, timeoutMs: 300_000 },
  );
  const byName = new Map<string, Tarball>();
  for (const name of readdirSync(destination).filter((f) => f.endsWith('.tgz'))) {
    const tarball = readTarball(path.join(destination, name));
    byName.set(tarball.manifest.name, tarball);
  }
  const out = { ms: result.ms } as Record<PackageKey, Tarball> & { ms: number };
  for (const [key, { name }] of Object.entries(PACKAGES) as [PackageKey, { name: string }][]) {
    const tarball = byName.get(name);
    if (!tarball) {
      throw new Error(`npm pack wrote no tarball for ${name} into ${destination}:\n${result.stdout}`);
    }
    out[key] = tarball;
  }
  return out;
}
