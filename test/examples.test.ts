import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing } from 'cdk8s';
import { parse, parseAllDocuments } from 'yaml';
import { AgentFleetChart } from '../examples/main';
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

  test('"Giving agents their secrets" shows what the example fleet synthesizes', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = /## Giving agents their secrets\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yaml).toBeDefined();
    const shown = parse(yaml ?? '');
    const objects = Testing.synth(new AgentFleetChart(Testing.app(), 'fleet'));
    const pods = objects.flatMap((o) =>
      o.kind === 'Job'
        ? [o.spec.template.spec]
        : o.kind === 'ScaledJob'
          ? [o.spec.jobTargetRef.template.spec]
          : [],
    );
    // The batch, the evaluation batch and the ScaledJob's template.
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      const env = pod.containers[0].env.filter((e: { name: string }) => e.name === 'LLM_API_KEY');
      expect(env).toEqual(shown);
    }
  });
});
