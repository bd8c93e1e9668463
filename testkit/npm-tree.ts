/**
 * What an npm install put on disk: throwaway projects, the installed packages found by walking
 * node_modules (the truth Node's resolver sees, whatever npm ls reports), and `npm ls` trees.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type RunResult, runOk } from './exec';

/** A fresh directory under the OS temp dir. */
export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `agent-fleet-${prefix}-`));
}

/** Creates a throwaway npm project (a private package.json) and returns its directory. */
export function createProject(dir: string, name: string, extra: Record<string, unknown> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name, version: '1.0.0', private: true, ...extra }, null, 2)}\n`,
  );
  return dir;
}

/** `npm install --no-audit --no-fund <specs>` in `dir` (the registry and its cache are the only sources). */
export function npmInstall(
  dir: string,
  specs: readonly string[],
  flags: readonly string[] = [],
): Promise<RunResult> {
  return runOk('npm', ['install', '--no-audit', '--no-fund', ...flags, ...specs], {
    cwd: dir,
    timeoutMs: 300_000,
  });
}

export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  /** Path relative to the project, e.g. `node_modules/cdk8s` or `node_modules/a/node_modules/b`. */
  readonly location: string;
}

/**
 * Every package installed under `root`'s node_modules, nested ones included (symlinked workspace
 * packages are listed where they are linked, not followed).
 */
export function installedPackages(root: string): InstalledPackage[] {
  const found: InstalledPackage[] = [];
  const visit = (modulesDir: string) => {
    if (!existsSync(modulesDir)) return;
    for (const entry of readdirSync(modulesDir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(modulesDir, entry.name);
      if (entry.name.startsWith('@')) {
        for (const scoped of readdirSync(full, { withFileTypes: true })) {
          add(path.join(full, scoped.name), scoped.isSymbolicLink());
        }
      } else {
        add(full, entry.isSymbolicLink());
      }
    }
  };
  const add = (dir: string, isLink: boolean) => {
    const manifest = path.join(dir, 'package.json');
    if (!existsSync(manifest)) return;
    const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string; version: string };
    found.push({ name, version, location: path.relative(root, dir).split(path.sep).join('/') });
    if (!isLink) visit(path.join(dir, 'node_modules'));
  };
  visit(path.join(root, 'node_modules'));
  return found.sort((a, b) => a.location.localeCompare(b.location));
}

/** The copies of one package installed under `root`. */
export function copiesOf(root: string, name: string): InstalledPackage[] {
  return installedPackages(root).filter((p) => p.name === name);
}

export interface LsNode {
  readonly version?: string;
  readonly dependencies?: Record<string, LsNode>;
}

/** `npm ls --all --omit=dev --json` of the project (parsed; npm's exit code is ignored). */
export async function npmLs(dir: string): Promise<LsNode> {
  const result = await runOk('sh', ['-c', 'npm ls --all --omit=dev --json || true'], { cwd: dir });
  return JSON.parse(result.stdout) as LsNode;
}

/** Every package name in an `npm ls --json` tree. */
export function namesInTree(tree: LsNode): Set<string> {
  const names = new Set<string>();
  const walk = (node: LsNode) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      names.add(name);
      walk(child);
    }
  };
  walk(tree);
  return names;
}

/** The tree as `name@version` lines indented by depth, for messages and reports. */
export function renderTree(tree: LsNode, depth = 0): string {
  return Object.entries(tree.dependencies ?? {})
    .map(
      ([name, child]) =>
        `${'  '.repeat(depth)}${name}@${child.version ?? '?'}\n${renderTree(child, depth + 1)}`,
    )
    .join('');
}
