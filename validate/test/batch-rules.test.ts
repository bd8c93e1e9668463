/**
 * AF113–AF117 beyond their one broken fixture: the ScaledJob and CronJob forms of the Kueue rules,
 * what stands in for a request, and the shard files of file-mode Jobs against their completions.
 */
import { DEFAULT_TASK_DIR, shardFileName } from '@agent-fleet/contract';
import fc from 'fast-check';
import { validateManifests } from '../src';
import { CLEAN_FLEET, type Json, readManifests } from './fixtures';

const QUEUE_NAME = 'kueue.x-k8s.io/queue-name';

/** Findings of one rule over `objects`, as `field` → message. */
const found = (rule: string, objects: Json[]) =>
  validateManifests(objects, { rules: [rule] }).findings.map((f) => [f.field, f.message] as const);
const fields = (rule: string, objects: Json[]) => found(rule, objects).map(([field]) => field);

const fleet = () => readManifests(CLEAN_FLEET);
const named = (objects: Json[], kind: string, name: string): Json =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const evalJob = (objects: Json[]) => named(objects, 'Job', 'research-eval');
const stream = (objects: Json[]) => named(objects, 'ScaledJob', 'research-stream');
const tasks = (objects: Json[]) => named(objects, 'ConfigMap', 'research-eval-tasks');

/** The clean eval Job as a CronJob's jobTemplate, the Job's labels on the jobTemplate. */
function asCronJob(job: Json): Json {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'research-nightly', namespace: 'research' },
    spec: {
      schedule: '0 2 * * *',
      jobTemplate: JSON.parse(JSON.stringify({ metadata: { labels: job.metadata.labels }, spec: job.spec })),
    },
  };
}

describe('AF113: the queue-name label belongs on the Job', () => {
  test('a ScaledJob labels its Jobs through its own metadata, not the pod template', () => {
    const objects = fleet();
    const sj = stream(objects);
    sj.spec.jobTargetRef.template.metadata.labels[QUEUE_NAME] = 'research';
    delete sj.metadata.labels[QUEUE_NAME];
    expect(found('AF113', objects)).toEqual([
      [
        `spec.jobTargetRef.template.metadata.labels.${QUEUE_NAME}`,
        expect.stringContaining('not on the ScaledJob (metadata.labels, which KEDA copies onto its Jobs)'),
      ],
    ]);
  });

  test('a CronJob reads it from its jobTemplate', () => {
    const objects = fleet();
    const cron = asCronJob(evalJob(objects));
    objects.push(cron);
    expect(found('AF113', objects)).toEqual([]);
    cron.spec.jobTemplate.spec.template.metadata.labels[QUEUE_NAME] = 'research';
    cron.spec.jobTemplate.metadata.labels = {};
    expect(fields('AF113', objects)).toEqual([
      `spec.jobTemplate.spec.template.metadata.labels.${QUEUE_NAME}`,
    ]);
  });

  test('the label on both the Job and its template, or on a Deployment’s pods, is not this rule', () => {
    const objects = fleet();
    evalJob(objects).spec.template.metadata.labels[QUEUE_NAME] = 'research';
    objects.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'research' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web', [QUEUE_NAME]: 'research' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
        },
      },
    });
    expect(found('AF113', objects)).toEqual([]);
  });
});

describe('AF114: queued Jobs request CPU and memory', () => {
  /** The eval Job's worker without its CPU request, and the namespace without a CPU default. */
  function withoutCpu(): Json[] {
    const objects = fleet();
    delete evalJob(objects).spec.template.spec.containers[0].resources.requests.cpu;
    delete named(objects, 'LimitRange', 'research-limits').spec.limits[0].defaultRequest.cpu;
    return objects;
  }
  const worker = (objects: Json[]) => evalJob(objects).spec.template.spec.containers[0];

  test('fires without a request; a limit, a LimitRange default or pod-level resources stand in', () => {
    expect(fields('AF114', withoutCpu())).toEqual([
      'spec.template.spec.containers[0].resources.requests.cpu',
    ]);

    const limited = withoutCpu();
    worker(limited).resources.limits.cpu = '1';
    expect(found('AF114', limited)).toEqual([]);

    const defaulted = withoutCpu();
    named(defaulted, 'LimitRange', 'research-limits').spec.limits[0].default = { cpu: '500m' };
    expect(found('AF114', defaulted)).toEqual([]);

    const podLevel = withoutCpu();
    evalJob(podLevel).spec.template.spec.resources = { requests: { cpu: '1' } };
    expect(found('AF114', podLevel)).toEqual([]);
  });

  test.each(['0', '0m', '0.0', 0])(
    'a request of %p takes no quota either: written, it is not defaulted',
    (zero) => {
      const objects = fleet();
      // The worker's memory limit and the namespace's default request do not replace it.
      worker(objects).resources.requests.memory = zero;
      expect(fields('AF114', objects)).toEqual([
        'spec.template.spec.containers[0].resources.requests.memory',
      ]);
    },
  );

  test('a LimitRange of another namespace does not stand in', () => {
    const objects = withoutCpu();
    const other = JSON.parse(JSON.stringify(named(objects, 'LimitRange', 'research-limits')));
    other.metadata.namespace = 'elsewhere';
    other.spec.limits[0].defaultRequest.cpu = '1';
    objects.push(other);
    expect(found('AF114', objects)).toHaveLength(1);
  });

  test('native sidecars count; init containers that finish first do not', () => {
    const objects = withoutCpu();
    worker(objects).resources.requests.cpu = '250m';
    const bare = { name: 'init', image: 'busybox:1.36', resources: { requests: { memory: '64Mi' } } };
    evalJob(objects).spec.template.spec.initContainers = [
      bare,
      { ...bare, name: 'proxy', restartPolicy: 'Always' },
    ];
    expect(fields('AF114', objects)).toEqual(['spec.template.spec.initContainers[1].resources.requests.cpu']);
  });

  test('a queued ScaledJob is checked through jobTargetRef; an unqueued Job is not checked', () => {
    const objects = fleet();
    delete stream(objects).spec.jobTargetRef.template.spec.containers[0].resources.requests.cpu;
    delete named(objects, 'LimitRange', 'research-limits').spec.limits[0].defaultRequest.cpu;
    expect(fields('AF114', objects)).toEqual([
      'spec.jobTargetRef.template.spec.containers[0].resources.requests.cpu',
    ]);
    delete stream(objects).metadata.labels[QUEUE_NAME];
    expect(found('AF114', objects)).toEqual([]);
  });
});

describe('AF115: queued Jobs are created suspended', () => {
  test('a ScaledJob through jobTargetRef.suspend, a CronJob through its jobTemplate', () => {
    const objects = fleet();
    stream(objects).spec.jobTargetRef.suspend = false;
    const cron = asCronJob(evalJob(objects));
    delete cron.spec.jobTemplate.spec.suspend;
    objects.push(cron);
    expect(found('AF115', objects)).toEqual([
      [
        'spec.jobTargetRef.suspend',
        expect.stringMatching(
          /^ScaledJob research\/research-stream: .* is false on a Job queued to LocalQueue research/,
        ),
      ],
      [
        'spec.jobTemplate.spec.suspend',
        expect.stringContaining('is unset on a Job queued to LocalQueue research'),
      ],
    ]);
    expect(validateManifests(objects).findings.every((f) => f.severity === 'warning')).toBe(true);
  });

  test('an unqueued Job need not be suspended', () => {
    const objects = fleet();
    delete evalJob(objects).metadata.labels[QUEUE_NAME];
    delete evalJob(objects).spec.suspend;
    expect(found('AF115', objects)).toEqual([]);
  });
});

describe('AF116: file mode runs in an Indexed Job', () => {
  test('NonIndexed written out, and file mode outside any Job', () => {
    const objects = fleet();
    evalJob(objects).spec.completionMode = 'NonIndexed';
    const pod = evalJob(objects).spec.template.spec;
    objects.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'one-off', namespace: 'research' },
      spec: pod,
    });
    expect(found('AF116', objects)).toEqual([
      [
        'spec.completionMode',
        expect.stringContaining('is "NonIndexed" while container "worker" reads AGENT_TASK_SOURCE=file'),
      ],
      ['spec.containers[0].env[0].value', expect.stringContaining('= "file" outside a Job')],
    ]);
  });

  test('queue mode does not need an index', () => {
    const objects = fleet();
    const job = evalJob(objects);
    delete job.spec.completionMode;
    job.spec.template.spec.containers[0].env[0].value = 'queue';
    expect(found('AF116', objects)).toEqual([]);
  });
});

describe('AF117: one shard file per completion index', () => {
  /** The eval Job with `completions`, its ConfigMap holding the shard files of `indexes` (and a README). */
  function batch(completions: number, indexes: readonly number[]): Json[] {
    const objects = fleet();
    evalJob(objects).spec.completions = completions;
    tasks(objects).data = Object.fromEntries([
      ['README.md', 'not a shard'],
      ...indexes.map((i) => [shardFileName(i), `{"id":"t${i}","input":{}}\n`]),
    ]);
    return objects;
  }

  test('fires exactly when the shard files are not 0…completions−1, on completions when the counts differ', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 12 }),
        fc.uniqueArray(fc.nat({ max: 15 }), { maxLength: 14 }),
        (completions, indexes) => {
          const complete = indexes.length === completions && indexes.every((i) => i < completions);
          const hits = fields('AF117', batch(completions, indexes));
          if (complete) expect(hits).toEqual([]);
          else if (indexes.length !== completions) expect(hits).toEqual(['spec.completions']);
          else expect(hits).toEqual(['spec.template.spec.volumes[1]']);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('names the missing indexes and the shards never run', () => {
    expect(found('AF117', batch(3, [0, 2, 7]))).toEqual([
      [
        'spec.template.spec.volumes[1]',
        'Job research/research-eval: spec.template.spec.volumes[1] (the ConfigMap research-eval-tasks mounted at ' +
          '/etc/agent-fleet/tasks) has no shard-00001.jsonl though completions = 3: index 1 finds no shard file and ' +
          'its worker exits with a configuration error (78); shard 7 is never run',
      ],
    ]);
    expect(found('AF117', batch(9, [0, 1]))[0][1]).toContain(
      'holds 2 shard files: indexes 2, 3, 4, 5, 6 and 2 more find no shard file',
    );
  });

  test('shards split over the sources of one projected volume add up', () => {
    const objects = batch(5, [0, 1, 2]);
    const second = {
      ...tasks(objects),
      metadata: { ...tasks(objects).metadata, name: 'research-eval-tasks-1' },
    };
    second.data = { [shardFileName(3)]: '{}\n', [shardFileName(4)]: '{}\n' };
    objects.push(second);
    expect(fields('AF117', objects)).toEqual(['spec.completions']);
    evalJob(objects).spec.template.spec.volumes[1].projected.sources.push({
      configMap: { name: 'research-eval-tasks-1' },
    });
    expect(found('AF117', objects)).toEqual([]);
  });

  test('items choose the file names; a plain configMap volume counts too', () => {
    const objects = batch(2, [0, 1]);
    const volume = evalJob(objects).spec.template.spec.volumes[1];
    evalJob(objects).spec.template.spec.volumes[1] = {
      name: volume.name,
      configMap: { name: 'research-eval-tasks', items: [{ key: shardFileName(1), path: shardFileName(0) }] },
    };
    expect(found('AF117', objects)[0][1]).toContain('holds 1 shard file: index 1 finds no shard file');
  });

  test('the worker’s default directory when AGENT_TASK_DIR is unset; a trailing slash is the same path', () => {
    const objects = batch(4, [0, 1, 2]);
    const container = evalJob(objects).spec.template.spec.containers[0];
    container.env = container.env.filter((e: Json) => e.name !== 'AGENT_TASK_DIR');
    container.volumeMounts[1].mountPath = `${DEFAULT_TASK_DIR}/`;
    expect(fields('AF117', objects)).toEqual(['spec.completions']);
  });

  test('nothing to compare: a ConfigMap not among the objects, a dir from valueFrom, nothing mounted there', () => {
    const missing = batch(4, [0, 1, 2]).filter((o) => o.kind !== 'ConfigMap');
    expect(found('AF117', missing)).toEqual([]);

    const fromSource = batch(4, [0, 1, 2]);
    const env = evalJob(fromSource).spec.template.spec.containers[0].env;
    env[1] = { name: 'AGENT_TASK_DIR', valueFrom: { configMapKeyRef: { name: 'settings', key: 'dir' } } };
    expect(found('AF117', fromSource)).toEqual([]);

    const elsewhere = batch(4, [0, 1, 2]);
    evalJob(elsewhere).spec.template.spec.containers[0].volumeMounts[1].mountPath = '/srv/tasks';
    expect(found('AF117', elsewhere)).toEqual([]);
  });
});
