import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { manifestProblems } from './support/manifests';

const root = join(__dirname, '..');

describe('examples', () => {
  test('the README quick start is examples/quickstart.ts, verbatim', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /## Quick start\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(readFileSync(join(root, 'examples/quickstart.ts'), 'utf8'));
  });

  test('the quick start, run as a program, writes valid restricted manifests', () => {
    // `npm test` builds before jest, so the compiled example exists.
    const outdir = mkdtempSync(join(tmpdir(), 'quickstart-'));
    try {
      execFileSync(process.execPath, [join(root, 'dist/examples/quickstart.js')], {
        env: { ...process.env, CDK8S_OUTDIR: outdir },
      });
      const files = readdirSync(outdir);
      expect(files).toEqual(['research-agents.k8s.yaml']);
      const objects = parseAllDocuments(readFileSync(join(outdir, files[0]), 'utf8')).map((d) => d.toJS());
      expect(objects.map((o) => o.kind)).toEqual(['PersistentVolumeClaim', 'Job']);
      expect(objects.flatMap(manifestProblems)).toEqual([]);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
