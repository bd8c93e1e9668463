/**
 * A real Prometheus rule checker for the tests: `promtool` from Debian's `prometheus` package.
 *
 * Found on PATH when installed; otherwise taken from a cache directory, filled on first use by
 * downloading the package with `apt-get download` (after `apt-get update` when the package lists are
 * missing and we are root) and extracting only `usr/bin/promtool` with `dpkg-deb`. promtool is a
 * static Go binary needing only libc, so this skips the package's dependencies (a dozen JavaScript
 * libraries for the web UI), its system user and its service, which `apt-get install` would add
 * (96 MB installed). On a fresh machine it takes a few seconds: a 19 MB download, plus `apt-get
 * update` when the lists are empty.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

const CACHE_DIR = join(__dirname, '..', '..', 'node_modules', '.cache', 'agent-fleet', 'promtool');
const CACHED = join(CACHE_DIR, 'usr', 'bin', 'promtool');

let resolved: string | undefined;

/** Path of a working promtool; downloads it on first use (see the module comment). */
export function promtoolPath(): string {
  if (resolved) return resolved;
  const onPath = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  if (onPath.status === 0 && onPath.stdout.trim()) {
    resolved = onPath.stdout.trim();
  } else {
    if (!existsSync(CACHED)) extractFromDebianPackage();
    resolved = CACHED;
  }
  execFileSync(resolved, ['--version'], { stdio: 'pipe' });
  return resolved;
}

function extractFromDebianPackage(): void {
  const work = mkdtempSync(join(tmpdir(), 'promtool-'));
  try {
    const download = () => spawnSync('apt-get', ['download', 'prometheus'], { cwd: work, encoding: 'utf8' });
    let result = download();
    if (result.status !== 0 && process.getuid?.() === 0) {
      // Fresh machines (containers) ship without package lists.
      execFileSync('apt-get', ['update'], { stdio: 'pipe' });
      result = download();
    }
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (result.status !== 0 || !deb) {
      throw new Error(
        `promtool is not on PATH and "apt-get download prometheus" failed (${result.error?.message ?? result.stderr}). ` +
          'Install it (Debian/Ubuntu: apt-get install prometheus) or put promtool on PATH.',
      );
    }
    const extracted = join(work, 'root');
    mkdirSync(extracted);
    execFileSync(
      'sh',
      [
        '-c',
        'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./usr/bin/promtool',
        'sh',
        join(work, deb),
        extracted,
      ],
      { stdio: 'pipe' },
    );
    mkdirSync(join(CACHE_DIR, '..'), { recursive: true });
    rmSync(CACHE_DIR, { recursive: true, force: true });
    renameSync(extracted, CACHE_DIR);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Output of one promtool run. */
export interface PromtoolResult {
  readonly ok: boolean;
  readonly output: string;
}

function run(args: string[], cwd: string): PromtoolResult {
  const r = spawnSync(promtoolPath(), args, { cwd, encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A Prometheus rule file's groups (`spec.groups` of a PrometheusRule as synthesized). */
// biome-ignore lint/suspicious/noExplicitAny: synthesized manifests are untyped JSON
export type RuleGroups = any[];

/** `promtool check rules` on `{ groups }`. */
export function checkRules(groups: RuleGroups): PromtoolResult {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    return run(['check', 'rules', 'rules.yaml'], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `promtool test rules`: `tests` is the `tests:` list of a unit-test file (input_series,
 * alert_rule_test, …); the rule file holds `groups`.
 */
export function testRules(groups: RuleGroups, tests: unknown[], evaluationInterval = '1m'): PromtoolResult {
  const dir = mkdtempSync(join(tmpdir(), 'rules-test-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    writeFileSync(
      join(dir, 'test.yaml'),
      stringify({ rule_files: ['rules.yaml'], evaluation_interval: evaluationInterval, tests }),
    );
    return run(['test', 'rules', 'test.yaml'], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
