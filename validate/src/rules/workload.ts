/** AF1xx: Jobs, pods and their containers. */
import {
  describeCredential,
  Env,
  findCredentials,
  SHUTDOWN_MARGIN_SECONDS,
  shutdownSecondsFor,
} from '@agent-fleet/contract';
import { isObject, type Json, show } from '../manifest';
import { restrictedViolations } from '../pod-security';
import { namespaceOf, type Rule, type RuleHit } from '../rule';
import { containersOf, literalEnv, podTemplatesOf, selectorMatches } from '../workloads';

const JOB_API = 'https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/job-v1/';
const KEDA_SCALEDJOB = 'https://keda.sh/docs/2.16/reference/scaledjob-spec/';

/** Kubernetes' default grace period when a pod sets none. */
const DEFAULT_GRACE_SECONDS = 30;

/** Pod templates that run as Jobs (Job, CronJob, ScaledJob), with their Job spec. */
function jobTemplates(obj: Json) {
  return podTemplatesOf(obj).flatMap((t) => (t.job ? [{ ...t, job: t.job }] : []));
}

export const podSecurity: Rule = {
  id: 'AF101',
  severity: 'error',
  title: 'A pod template fails Pod Security "restricted"',
  fix: 'run as non-root with allowPrivilegeEscalation: false, capabilities drop [ALL], seccompProfile RuntimeDefault and restricted volume types only',
  source: 'https://kubernetes.io/docs/concepts/security/pod-security-standards/',
  check: (obj) =>
    podTemplatesOf(obj).flatMap((t) =>
      restrictedViolations(t.spec, t.where).map((v) => ({ field: v.field, message: v.message })),
    ),
};

export const restartPolicyNever: Rule = {
  id: 'AF102',
  severity: 'error',
  title: 'An agent Job restarts its pods in place (restartPolicy OnFailure, or empty in a ScaledJob)',
  fix: 'set restartPolicy: Never and a podFailurePolicy that ignores DisruptionTarget',
  source: `${JOB_API} (podFailurePolicy, backoffLimitPerIndex); ${KEDA_SCALEDJOB}`,
  check(obj) {
    return jobTemplates(obj).flatMap((t): RuleHit[] => {
      const policy = t.spec.restartPolicy;
      const field = `${t.where}.restartPolicy`;
      if (policy === 'OnFailure') {
        return [
          {
            field,
            message:
              'is OnFailure: Kubernetes rejects podFailurePolicy and backoffLimitPerIndex with it, so evictions spend ' +
              'the retry budget, and an agent that checkpoints and exits 0 on SIGTERM marks its work complete',
          },
        ];
      }
      if (policy === undefined && obj.kind === 'ScaledJob') {
        return [
          { field, message: 'is empty, and KEDA fills in OnFailure (which rejects a podFailurePolicy)' },
        ];
      }
      return [];
    });
  },
};

export const replacementPolicy: Rule = {
  id: 'AF103',
  severity: 'error',
  title: 'A Job with a podFailurePolicy replaces pods that are still terminating',
  fix: 'set podReplacementPolicy: Failed (or leave it unset)',
  source: `${JOB_API} (podReplacementPolicy)`,
  check(obj) {
    return jobTemplates(obj).flatMap((t): RuleHit[] =>
      t.job.spec.podFailurePolicy !== undefined && t.job.spec.podReplacementPolicy === 'TerminatingOrFailed'
        ? [
            {
              field: `${t.job.where}.podReplacementPolicy`,
              message:
                'is TerminatingOrFailed next to a podFailurePolicy, which Kubernetes rejects; it would also start a ' +
                'second pod on the same work while the first still checkpoints',
            },
          ]
        : [],
    );
  },
};

export const disruptionsIgnored: Rule = {
  id: 'AF104',
  severity: 'warning',
  title: 'Evictions and preemptions count against the Job’s retry budget',
  fix: 'add the podFailurePolicy rule {action: Ignore, onPodConditions: [{type: DisruptionTarget, status: "True"}]}',
  source: 'https://kubernetes.io/docs/concepts/workloads/pods/disruptions/',
  check(obj) {
    return jobTemplates(obj).flatMap((t): RuleHit[] => {
      // With OnFailure a podFailurePolicy is impossible: AF102 comes first.
      if (t.spec.restartPolicy !== 'Never') return [];
      const rules: Json[] = Array.isArray(t.job.spec.podFailurePolicy?.rules)
        ? t.job.spec.podFailurePolicy.rules
        : [];
      const ignores = rules.some(
        (r) =>
          r?.action === 'Ignore' &&
          (Array.isArray(r.onPodConditions) ? r.onPodConditions : []).some(
            (c: Json) => c?.type === 'DisruptionTarget' && (c.status ?? 'True') === 'True',
          ),
      );
      return ignores
        ? []
        : [
            {
              field: `${t.job.where}.podFailurePolicy`,
              message: 'has no rule ignoring DisruptionTarget: every node drain or preemption spends a retry',
            },
          ];
    });
  },
};

/** Env names a container sets from the Job completion index. */
function indexVariables(container: Json): string[] {
  const names = ['JOB_COMPLETION_INDEX'];
  for (const e of Array.isArray(container.env) ? container.env : []) {
    const path: unknown = e?.valueFrom?.fieldRef?.fieldPath;
    if (typeof e?.name === 'string' && typeof path === 'string' && path.includes('job-completion-index')) {
      names.push(e.name);
    }
  }
  return names;
}

export const checkpointsByTask: Rule = {
  id: 'AF105',
  severity: 'error',
  title: 'Checkpoints are keyed by the agent’s index instead of the task',
  fix: `mount the shared store at one path for every pod and key each checkpoint by task id (the worker does, under ${Env.CHECKPOINT_DIR})`,
  source: 'DESIGN.md fact 10; https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode',
  check(obj) {
    const hits: RuleHit[] = [];
    for (const t of podTemplatesOf(obj)) {
      for (const { at, container } of containersOf(t)) {
        const index = new RegExp(`\\$\\((${indexVariables(container).join('|')})\\)`);
        const dir = literalEnv(container).get(Env.CHECKPOINT_DIR);
        if (dir && index.test(dir.value)) {
          hits.push({
            field: `${at}.env[${dir.at}].value`,
            message: `${Env.CHECKPOINT_DIR} = ${show(dir.value)} depends on the agent's index, but a redelivered task can land on any pod`,
          });
        }
        for (const [i, m] of (Array.isArray(container.volumeMounts)
          ? container.volumeMounts
          : []
        ).entries()) {
          if (typeof m?.subPathExpr === 'string' && index.test(m.subPathExpr)) {
            hits.push({
              field: `${at}.volumeMounts[${i}].subPathExpr`,
              message: `= ${show(m.subPathExpr)} gives each index its own checkpoint folder, but a redelivered task can land on any pod`,
            });
          }
        }
      }
    }
    return hits;
  },
};

/** How many pods the object may run at once; undefined when it cannot tell. */
function podsAtOnce(obj: Json): number | undefined {
  const spec = obj.spec ?? {};
  if (obj.kind === 'ScaledJob') return (spec.maxReplicaCount ?? 100) * (spec.jobTargetRef?.parallelism ?? 1);
  if (obj.kind === 'Job') return spec.parallelism ?? 1;
  if (obj.kind === 'CronJob') return 2; // a schedule can overlap the previous run
  if (['Deployment', 'StatefulSet', 'ReplicaSet'].includes(obj.kind)) return spec.replicas ?? 1;
  return undefined;
}

export const sharedCheckpointVolume: Rule = {
  id: 'AF106',
  severity: 'error',
  title: 'A ReadWriteOnce claim is mounted by a workload that runs several pods at once',
  fix: 'use a ReadWriteMany claim (EFS, NFS, CephFS, Filestore), or run one pod at a time',
  source: 'https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes',
  check(obj, context) {
    const pods = podsAtOnce(obj) ?? 1;
    if (pods <= 1) return [];
    const claims = context.objectsIn(namespaceOf(obj), 'PersistentVolumeClaim');
    return podTemplatesOf(obj).flatMap((t) =>
      (Array.isArray(t.spec.volumes) ? t.spec.volumes : []).flatMap((v: Json, i: number): RuleHit[] => {
        const name = v?.persistentVolumeClaim?.claimName;
        const claim = claims.find((c) => c.metadata?.name === name);
        const modes: unknown[] = Array.isArray(claim?.spec?.accessModes) ? claim.spec.accessModes : [];
        if (!claim || modes.length === 0 || modes.some((m) => m === 'ReadWriteMany' || m === 'ReadOnlyMany'))
          return [];
        return [
          {
            field: `${t.where}.volumes[${i}].persistentVolumeClaim.claimName`,
            message: `names PersistentVolumeClaim ${name} (${modes.join(', ')}), which up to ${pods} pods on different nodes cannot share`,
          },
        ];
      }),
    );
  },
};

export const retryBudget: Rule = {
  id: 'AF107',
  severity: 'warning',
  title: 'A Job sets no retry budget (a LimitRange does not limit restarts)',
  fix: 'set backoffLimitPerIndex (Indexed Jobs) or backoffLimit on the Job',
  source: `${JOB_API}; https://kubernetes.io/docs/concepts/policy/limit-range/`,
  check(obj) {
    return jobTemplates(obj).flatMap((t): RuleHit[] =>
      t.job.spec.backoffLimit === undefined && t.job.spec.backoffLimitPerIndex === undefined
        ? [
            {
              field: `${t.job.where}.backoffLimit`,
              message:
                'is unset (and so is backoffLimitPerIndex): failed pods are retried 6 times, and no LimitRange caps that',
            },
          ]
        : [],
    );
  },
};

/** Why an image reference may run different code on each pull, or undefined when it is pinned. */
export function imageProblem(image: string): string | undefined {
  if (/@sha256:[a-f0-9]{64}$/.test(image)) return undefined;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) return 'has no tag, so it means :latest';
  if (lastSegment.slice(colon + 1) === 'latest') return 'uses the moving tag "latest"';
  return undefined;
}

export const pinnedImages: Rule = {
  id: 'AF108',
  severity: 'error',
  title: 'An image has no tag or uses :latest',
  fix: 'pin a version tag or a digest, e.g. registry.example.com/agent:1.4.2',
  source: 'https://kubernetes.io/docs/concepts/containers/images/#image-names',
  check(obj) {
    return podTemplatesOf(obj).flatMap((t) =>
      containersOf(t).flatMap(({ at, container }): RuleHit[] => {
        const problem = typeof container.image === 'string' ? imageProblem(container.image) : undefined;
        return problem
          ? [
              {
                field: `${at}.image`,
                message: `${show(container.image)} ${problem}: each retry may run different code`,
              },
            ]
          : [];
      }),
    );
  },
};

/** Every string in `value` with its dotted path. */
function strings(value: unknown, path: string, out: Array<{ path: string; text: string }>): void {
  if (typeof value === 'string') out.push({ path, text: value });
  else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) strings(v, `${path}[${i}]`, out);
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) strings(v, path === '' ? k : `${path}.${k}`, out);
  }
}

export const noCredentialLiterals: Rule = {
  id: 'AF109',
  severity: 'error',
  title: 'A credential is written in plain text outside a Secret',
  fix: 'move it into a Secret created outside the manifests and reference it (env valueFrom.secretKeyRef, a TriggerAuthentication)',
  source: 'https://kubernetes.io/docs/concepts/configuration/secret/',
  check(obj) {
    if (obj.kind === 'Secret') return [];
    const found: Array<{ path: string; text: string }> = [];
    strings(obj, '', found);
    return found.flatMap(({ path, text }): RuleHit[] => {
      const match = findCredentials(text)[0];
      return match
        ? [{ field: path, message: `carries ${describeCredential(match.kind)} in plain text` }]
        : [];
    });
  },
};

export const memoryLimit: Rule = {
  id: 'AF110',
  severity: 'warning',
  title: 'A container has no memory limit and no LimitRange gives it one',
  fix: 'set resources.limits.memory (agents spike with their context), or a LimitRange default',
  source: 'https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/',
  check(obj, context) {
    const defaulted = context
      .objectsIn(namespaceOf(obj), 'LimitRange')
      .some((lr) =>
        (Array.isArray(lr.spec?.limits) ? lr.spec.limits : []).some(
          (l: Json) => l?.type === 'Container' && l.default?.memory !== undefined,
        ),
      );
    if (defaulted) return [];
    return podTemplatesOf(obj).flatMap((t) =>
      containersOf(t).flatMap(({ at, container }): RuleHit[] =>
        container.resources?.limits?.memory === undefined
          ? [
              {
                field: `${at}.resources.limits.memory`,
                message: 'is unset: one agent holding a large context can take the node’s memory',
              },
            ]
          : [],
      ),
    );
  },
};

export const jobDisruptionBudget: Rule = {
  id: 'AF111',
  severity: 'error',
  title: 'A PodDisruptionBudget over Job pods uses maxUnavailable or a percentage',
  fix: 'use an integer minAvailable below the Job’s parallelism (or no PodDisruptionBudget for queue-driven Jobs)',
  source:
    'https://kubernetes.io/docs/tasks/run-application/configure-pdb/#arbitrary-controllers-and-selectors',
  check(obj, context) {
    if (obj.kind !== 'PodDisruptionBudget') return [];
    const jobs = context
      .podTemplatesIn(namespaceOf(obj))
      .filter(({ template }) => template.job && selectorMatches(obj.spec?.selector, template.labels));
    if (jobs.length === 0) return [];
    const owners = [...new Set(jobs.map(({ obj: o }) => `${o.kind} ${o.metadata?.name}`))].join(', ');
    const spec = obj.spec ?? {};
    const hits: RuleHit[] = [];
    if (spec.maxUnavailable !== undefined) {
      hits.push({
        field: 'spec.maxUnavailable',
        message: `= ${show(spec.maxUnavailable)} selects pods of ${owners}, whose controller has no scale: no eviction is ever allowed and drains hang`,
      });
    }
    if (typeof spec.minAvailable === 'string') {
      hits.push({
        field: 'spec.minAvailable',
        message: `= ${show(spec.minAvailable)} is a percentage over pods of ${owners}: no eviction is ever allowed and drains hang`,
      });
    }
    return hits;
  },
};

export const shutdownDeadline: Rule = {
  id: 'AF112',
  severity: 'error',
  title: 'The worker’s shutdown deadline does not end before the kubelet’s SIGKILL',
  fix: `set ${Env.AGENT_SHUTDOWN_SECONDS} to terminationGracePeriodSeconds − ${SHUTDOWN_MARGIN_SECONDS} (or raise the grace period)`,
  source: 'https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination',
  check(obj) {
    return podTemplatesOf(obj).flatMap((t) => {
      const grace =
        typeof t.spec.terminationGracePeriodSeconds === 'number'
          ? t.spec.terminationGracePeriodSeconds
          : DEFAULT_GRACE_SECONDS;
      const latest = shutdownSecondsFor(grace);
      return containersOf(t).flatMap(({ at, container }): RuleHit[] => {
        const set = literalEnv(container).get(Env.AGENT_SHUTDOWN_SECONDS);
        if (!set || !(Number(set.value) > latest)) return [];
        return [
          {
            field: `${at}.env[${set.at}].value`,
            message: `${Env.AGENT_SHUTDOWN_SECONDS} = ${set.value} leaves less than ${SHUTDOWN_MARGIN_SECONDS}s of the ${grace}s grace period: SIGKILL can cut the checkpoint short`,
            fix: `set it to at most ${latest}, or raise terminationGracePeriodSeconds`,
          },
        ];
      });
    });
  },
};

export const WORKLOAD_RULES: readonly Rule[] = [
  podSecurity,
  restartPolicyNever,
  replacementPolicy,
  disruptionsIgnored,
  checkpointsByTask,
  sharedCheckpointVolume,
  retryBudget,
  pinnedImages,
  noCredentialLiterals,
  memoryLimit,
  jobDisruptionBudget,
  shutdownDeadline,
];
