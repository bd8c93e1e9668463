/**
 * AF113–AF117: Jobs admitted by Kueue, and batches whose tasks come from shard files instead of a
 * queue. Kueue reads the Job's own labels and admits on the pods' requests; a file-mode worker picks
 * its shard by the Job's completion index, so the Job must be Indexed and have one shard per index.
 */
import { DEFAULT_TASK_DIR, Env, shardFileName, TaskFileEnv, TaskSources } from '@agent-fleet/contract';
import { isObject, type Json, show } from '../manifest';
import { namespaceOf, type Rule, type RuleContext, type RuleHit } from '../rule';
import { containersOf, literalEnv, type PodTemplate, podTemplatesOf } from '../workloads';

/** The label that hands a Job to a Kueue LocalQueue. */
export const KUEUE_QUEUE_NAME_LABEL = 'kueue.x-k8s.io/queue-name';

const KUEUE_JOBS = 'https://kueue.sigs.k8s.io/docs/tasks/run/jobs/';
const INDEXED_JOB = 'https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode';

type JobTemplate = PodTemplate & { readonly job: NonNullable<PodTemplate['job']> };

/** Pod templates that run as Jobs (Job, CronJob, ScaledJob), with their Job spec. */
function jobTemplates(obj: Json): JobTemplate[] {
  return podTemplatesOf(obj).flatMap((t) => (t.job ? [{ ...t, job: t.job }] : []));
}

/**
 * Where the labels of the Jobs an object creates are written: the Job's own, a CronJob's
 * jobTemplate, and for a ScaledJob its own metadata, which KEDA copies onto every Job it creates
 * (the pod template's labels stay on the pods).
 */
function jobLabelsOf(obj: Json): { where: string; labels: Record<string, unknown> } | undefined {
  const at = (where: string, meta: Json) => ({
    where,
    labels: isObject(meta) && isObject(meta.labels) ? meta.labels : {},
  });
  if (obj.kind === 'Job' || obj.kind === 'ScaledJob') return at('metadata.labels', obj.metadata);
  if (obj.kind === 'CronJob') return at('spec.jobTemplate.metadata.labels', obj.spec?.jobTemplate?.metadata);
  return undefined;
}

/** The LocalQueue the object's Jobs are labelled for, or undefined when Kueue does not manage them. */
function localQueueOf(obj: Json): string | undefined {
  const name = jobLabelsOf(obj)?.labels[KUEUE_QUEUE_NAME_LABEL];
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** `spec.template.spec` → `spec.template.metadata`. */
const templateMetadata = (t: PodTemplate) => `${t.where.replace(/\.spec$/, '')}.metadata`;

export const queueLabelOnJob: Rule = {
  id: 'AF113',
  severity: 'error',
  title: 'The Kueue queue-name label is on the pod template only, not on the Job',
  fix: `move the ${KUEUE_QUEUE_NAME_LABEL} label to the Job's metadata.labels`,
  source: `${KUEUE_JOBS}; kedacore/keda v2.16.1 pkg/scaling/executor/scale_jobs.go (generateJobs copies the ScaledJob's labels to its Jobs)`,
  check(obj) {
    const job = jobLabelsOf(obj);
    if (!job || job.labels[KUEUE_QUEUE_NAME_LABEL] !== undefined) return [];
    const fix =
      obj.kind === 'ScaledJob'
        ? `move the label to the ScaledJob's own metadata.labels: KEDA copies those onto every Job it creates`
        : `move the label to ${job.where} (the Job's own labels), and leave it off the pod template`;
    const owner =
      obj.kind === 'ScaledJob'
        ? 'on the ScaledJob (metadata.labels, which KEDA copies onto its Jobs)'
        : `on the Job (${job.where})`;
    return jobTemplates(obj).flatMap((t): RuleHit[] =>
      t.labels[KUEUE_QUEUE_NAME_LABEL] === undefined
        ? []
        : [
            {
              field: `${templateMetadata(t)}.labels.${KUEUE_QUEUE_NAME_LABEL}`,
              message:
                `= ${show(t.labels[KUEUE_QUEUE_NAME_LABEL])} is on the pod template but not ${owner}: Kueue queues a ` +
                'Job by the Job’s own label, so the Job runs at once outside the quota (and with Kueue’s pod ' +
                'integration each pod would be queued on its own)',
              fix,
            },
          ],
    );
  },
};

/** Resources Kueue admits on; a pod that requests none of one takes none of that quota. */
const ADMITTED_RESOURCES = ['cpu', 'memory'] as const;

/** Whether a quantity is absent or zero (`0`, `0m`, `0.0Gi`): either way it takes no quota. */
function noQuantity(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === 'number') return value === 0;
  return typeof value === 'string' && /^\+?0*(\.0*)?[a-zA-Z]*$/.test(value.trim());
}

/**
 * The Container `defaultRequest` and `default` of the namespace's LimitRanges, which Kueue (as the
 * API server for pods) fills into a container that sets no request or limit of its own.
 */
function limitRangeDefaults(obj: Json, context: RuleContext): { requests: Json; limits: Json } {
  const requests: Json = {};
  const limits: Json = {};
  for (const lr of context.objectsIn(namespaceOf(obj), 'LimitRange')) {
    for (const l of Array.isArray(lr.spec?.limits) ? lr.spec.limits : []) {
      if (l?.type !== 'Container') continue;
      for (const r of ADMITTED_RESOURCES) {
        requests[r] ??= isObject(l.defaultRequest) ? l.defaultRequest[r] : undefined;
        limits[r] ??= isObject(l.default) ? l.default[r] : undefined;
      }
    }
  }
  return { requests, limits };
}

/**
 * The request Kueue counts for resource `r` of a container, in its order: the request as written
 * (even zero), else the LimitRange's default request, else the limit (the container's, else the
 * LimitRange's default limit), which then stands in as the request.
 */
function effectiveRequest(resources: Json, r: string, defaults: { requests: Json; limits: Json }): unknown {
  const own = (kind: 'requests' | 'limits') => (isObject(resources[kind]) ? resources[kind][r] : undefined);
  return own('requests') ?? defaults.requests[r] ?? own('limits') ?? defaults.limits[r];
}

/** The containers running next to the agent: regular ones and native sidecars (restartable init containers). */
function runningContainers(t: PodTemplate): Array<{ at: string; container: Json }> {
  return containersOf(t).filter(
    ({ at, container }) => at.startsWith(`${t.where}.containers[`) || container.restartPolicy === 'Always',
  );
}

export const kueueRequests: Rule = {
  id: 'AF114',
  severity: 'error',
  title: 'A Job queued to a Kueue LocalQueue has a container without a CPU or memory request',
  fix: 'set resources.requests.cpu and resources.requests.memory to what one agent needs',
  source: `${KUEUE_JOBS}; https://kueue.sigs.k8s.io/docs/concepts/workload/#resource-requests`,
  check(obj, context) {
    const queue = localQueueOf(obj);
    if (!queue) return [];
    const defaults = limitRangeDefaults(obj, context);
    return jobTemplates(obj).flatMap((t) => {
      // Pod-level resources (alpha in 1.32) cover the containers that set none.
      const pod = isObject(t.spec.resources) ? t.spec.resources : {};
      return runningContainers(t).flatMap(({ at, container }) =>
        ADMITTED_RESOURCES.flatMap((r): RuleHit[] => {
          const res = isObject(container.resources) ? container.resources : {};
          const requested =
            !noQuantity(effectiveRequest(res, r, defaults)) ||
            !noQuantity(effectiveRequest(pod, r, { requests: {}, limits: {} }));
          if (requested) return [];
          return [
            {
              field: `${at}.resources.requests.${r}`,
              message:
                `is ${res.requests?.[r] === undefined ? 'unset (no limit or LimitRange default stands in)' : show(res.requests[r])} ` +
                `on a Job queued to LocalQueue ${queue}: Kueue admits on requests, so this container takes ` +
                `none of the ClusterQueue's ${r} quota and the quota does not bound it`,
              fix: `request the ${r} one agent needs in resources.requests.${r}`,
            },
          ];
        }),
      );
    });
  },
};

export const kueueSuspended: Rule = {
  id: 'AF115',
  severity: 'warning',
  title: 'A Job queued to a Kueue LocalQueue is not created suspended',
  fix: 'set suspend: true on the Job (in a ScaledJob: spec.jobTargetRef.suspend); Kueue unsuspends it on admission',
  source: `${KUEUE_JOBS}; https://kubernetes.io/docs/concepts/workloads/controllers/job/#suspending-a-job`,
  check(obj) {
    const queue = localQueueOf(obj);
    if (!queue) return [];
    return jobTemplates(obj).flatMap((t): RuleHit[] =>
      t.job.spec.suspend === true
        ? []
        : [
            {
              field: `${t.job.where}.suspend`,
              message:
                `is ${t.job.spec.suspend === undefined ? 'unset' : show(t.job.spec.suspend)} on a Job queued to LocalQueue ` +
                `${queue}: Kueue's webhook suspends it on creation, but where the webhook does not run (Kueue not ` +
                'yet installed, or a namespace it skips) the Job starts at once, unadmitted and outside the quota',
            },
          ],
    );
  },
};

/** The containers of a template that read their tasks from files, with the index of that env entry. */
function fileModeContainers(t: PodTemplate): Array<{ at: string; container: Json; env: number }> {
  return containersOf(t).flatMap(({ at, container }) => {
    const source = literalEnv(container).get(TaskFileEnv.AGENT_TASK_SOURCE);
    return source && source.value.trim() === TaskSources.file ? [{ at, container, env: source.at }] : [];
  });
}

export const fileModeIndexed: Rule = {
  id: 'AF116',
  severity: 'error',
  title: 'A worker reads its tasks from files (AGENT_TASK_SOURCE=file) outside an Indexed Job',
  fix: 'set completionMode: Indexed, with completions equal to the number of shard files',
  source: `${INDEXED_JOB}; the runtime contract (taskFileIndexViolation)`,
  check(obj) {
    const hits: RuleHit[] = [];
    for (const t of podTemplatesOf(obj)) {
      const workers = fileModeContainers(t);
      if (workers.length === 0) continue;
      const names = workers.map(({ container }) => show(container.name)).join(', ');
      const why =
        `container ${names} reads ${TaskFileEnv.AGENT_TASK_SOURCE}=${TaskSources.file}: its shard is chosen by the ` +
        `completion index, which only an Indexed Job gives its pods; without one ${Env.AGENT_INDEX} is empty and the worker ` +
        'exits with a configuration error (78), or, given a fixed index, every pod runs the same shard';
      if (!t.job) {
        hits.push({
          field: `${workers[0].at}.env[${workers[0].env}].value`,
          message: `= "${TaskSources.file}" outside a Job: ${why}`,
          fix: 'run file-mode workers in an Indexed Job, one completion per shard file',
        });
      } else if (t.job.spec.completionMode !== 'Indexed') {
        const mode = t.job.spec.completionMode;
        hits.push({
          field: `${t.job.where}.completionMode`,
          message: `is ${mode === undefined ? 'unset (NonIndexed)' : show(mode)} while ${why}`,
        });
      }
    }
    return hits;
  },
};

/** `/a/b/` → `/a/b`, so that mount paths and AGENT_TASK_DIR compare as the kubelet and the worker see them. */
const normalizeDir = (dir: string) => dir.replace(/\/+$/, '') || '/';

/** Shard index of a file name that is exactly `shardFileName(i)`, else undefined. */
function shardIndexOf(fileName: string): number | undefined {
  const match = /^shard-(\d+)\.jsonl$/.exec(fileName);
  if (!match) return undefined;
  const index = Number(match[1]);
  return Number.isSafeInteger(index) && shardFileName(index) === fileName ? index : undefined;
}

/**
 * The files a ConfigMap volume source puts in the mounted directory: its keys (`data` and
 * `binaryData`), or the `path` of each listed item whose key the ConfigMap has.
 */
function filesOf(source: Json, configMap: Json): string[] {
  const keys = new Set([
    ...Object.keys(isObject(configMap.data) ? configMap.data : {}),
    ...Object.keys(isObject(configMap.binaryData) ? configMap.binaryData : {}),
  ]);
  if (!Array.isArray(source.items)) return [...keys];
  return source.items.flatMap((item: Json) =>
    isObject(item) && keys.has(item.key) && typeof item.path === 'string' ? [item.path] : [],
  );
}

/**
 * The shard files of the volume mounted at `dir`, with the ConfigMaps they come from; undefined when
 * that cannot be known here: no ConfigMap-backed volume is mounted at `dir`, or a ConfigMap it names
 * is not among the validated objects.
 */
function shardFilesAt(
  t: PodTemplate,
  container: Json,
  dir: string,
  obj: Json,
  context: RuleContext,
): { volume: number; configMaps: string[]; indexes: Set<number> } | undefined {
  const mount = (Array.isArray(container.volumeMounts) ? container.volumeMounts : []).find(
    (m: Json) =>
      isObject(m) &&
      typeof m.mountPath === 'string' &&
      normalizeDir(m.mountPath) === dir &&
      !m.subPath &&
      !m.subPathExpr,
  );
  if (!mount) return undefined;
  const volumes: Json[] = Array.isArray(t.spec.volumes) ? t.spec.volumes : [];
  const volume = volumes.findIndex((v) => isObject(v) && v.name === mount.name);
  if (volume < 0) return undefined;
  const v = volumes[volume];
  const sources: Json[] = isObject(v.configMap)
    ? [v.configMap]
    : (Array.isArray(v.projected?.sources) ? v.projected.sources : []).flatMap((s: Json) =>
        isObject(s?.configMap) ? [s.configMap] : [],
      );
  if (sources.length === 0) return undefined;
  const configMaps = context.objectsIn(namespaceOf(obj), 'ConfigMap');
  const indexes = new Set<number>();
  for (const source of sources) {
    const configMap = configMaps.find((c) => c.metadata?.name === source.name);
    if (!configMap) return undefined;
    for (const file of filesOf(source, configMap)) {
      const index = shardIndexOf(file);
      if (index !== undefined) indexes.add(index);
    }
  }
  return { volume, configMaps: sources.map((s) => String(s.name)), indexes };
}

/** `index 3`, `indexes 0, 1, 2` or `indexes 0, 1, 2, 3, 4 and 7 more`: the first five of `total`. */
function describeIndexes(singular: string, plural: string, first: readonly number[], total: number): string {
  const more = total > 5 ? ` and ${total - 5} more` : '';
  return `${total > 1 ? plural : singular} ${first.slice(0, 5).join(', ')}${more}`;
}

/** The first five of the indexes 0…completions−1 without a shard, and how many there are in all. */
function missingIndexes(indexes: Set<number>, completions: number): { first: number[]; total: number } {
  const first: number[] = [];
  for (let i = 0; i < completions && first.length < 5; i++) if (!indexes.has(i)) first.push(i);
  let present = 0;
  for (const i of indexes) if (i < completions) present++;
  return { first, total: completions - present };
}

/** The directory a file-mode worker reads, or undefined when it comes from a `valueFrom` and cannot be read here. */
function taskDirOf(container: Json): string | undefined {
  const set = literalEnv(container).get(TaskFileEnv.AGENT_TASK_DIR);
  if (set) return normalizeDir(set.value.trim() === '' ? DEFAULT_TASK_DIR : set.value.trim());
  const fromSource = (Array.isArray(container.env) ? container.env : []).some(
    (e: Json) => isObject(e) && e.name === TaskFileEnv.AGENT_TASK_DIR,
  );
  return fromSource ? undefined : DEFAULT_TASK_DIR;
}

export const shardPerIndex: Rule = {
  id: 'AF117',
  severity: 'error',
  title: 'A file-mode Job’s completions do not match the shard files mounted at AGENT_TASK_DIR',
  fix: `set completions to the number of shard files, one file ${shardFileName(0)}… per index 0…completions−1`,
  source: `${INDEXED_JOB}; the runtime contract (shardFileName, ${TaskFileEnv.AGENT_TASK_DIR})`,
  check(obj, context) {
    const hits: RuleHit[] = [];
    for (const t of jobTemplates(obj)) {
      const completions = t.job.spec.completions;
      // An Indexed Job without completions is refused by the API server; nothing to compare.
      if (!Number.isSafeInteger(completions) || completions < 0) continue;
      const dirs = new Set<string>();
      for (const { container } of fileModeContainers(t)) {
        const dir = taskDirOf(container);
        if (dir === undefined || dirs.has(dir)) continue;
        dirs.add(dir);
        const found = shardFilesAt(t, container, dir, obj, context);
        if (!found) continue;
        const shards = found.indexes.size;
        const missing = missingIndexes(found.indexes, completions);
        const unused = [...found.indexes].filter((i) => i >= completions).sort((x, y) => x - y);
        const consequences = [
          missing.total > 0
            ? `${describeIndexes('index', 'indexes', missing.first, missing.total)} ` +
              (missing.total > 1
                ? 'find no shard file and their workers exit with a configuration error (78)'
                : 'finds no shard file and its worker exits with a configuration error (78)')
            : '',
          unused.length > 0
            ? `${describeIndexes('shard', 'shards', unused, unused.length)} ${unused.length > 1 ? 'are' : 'is'} never run`
            : '',
        ]
          .filter((c) => c !== '')
          .join('; ');
        const several = found.configMaps.length > 1;
        const from = `the ConfigMap${several ? 's' : ''} ${found.configMaps.join(', ')} mounted at ${dir}`;
        if (shards !== completions) {
          hits.push({
            field: `${t.job.where}.completions`,
            message:
              `= ${completions} but ${from} hold${several ? '' : 's'} ${shards} shard file${shards === 1 ? '' : 's'}: ` +
              consequences,
            fix:
              shards === 0
                ? `write the tasks as shard files ${shardFileName(0)}… (one per index) into ${found.configMaps.join(', ')}`
                : `set completions to ${shards}, with the files named ${shardFileName(0)}…${shardFileName(shards - 1)}`,
          });
        } else if (missing.total > 0) {
          hits.push({
            field: `${t.where}.volumes[${found.volume}]`,
            message: `(${from}) has no ${shardFileName(missing.first[0])} though completions = ${completions}: ${consequences}`,
            fix: `name the shard files ${shardFileName(0)}…${shardFileName(completions - 1)}, one per index`,
          });
        }
      }
    }
    return hits;
  },
};

export const BATCH_RULES: readonly Rule[] = [
  queueLabelOnJob,
  kueueRequests,
  kueueSuspended,
  fileModeIndexed,
  shardPerIndex,
];
