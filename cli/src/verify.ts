/**
 * `agent-fleet verify`: seed tasks into a deployed fleet and watch them get done. Preflight (kubeconfig,
 * namespace, KEDA CRDs, ScaledJob), seed with confirms, then poll the namespace's Jobs and pods and read
 * each agent pod's completed-task counter through the API server's pod proxy until every task is counted
 * or the timeout passes; print a pass/fail summary with what was seen.
 */
import { Defaults, Env, Http, Metrics } from '@agent-fleet/contract';
import { brokerSecrets, checkQueue, connectBroker, resolveBrokerUrl, scrub } from './amqp';
import {
  CliError,
  CliExit,
  type CommandIo,
  parseDurationFlag,
  parseIntFlag,
  usageError,
  writeLine,
} from './io';
import {
  ClusterClient,
  kubeconfigSecrets,
  loadKubeConfig,
  loadKubeModule,
  unverifiedTlsWarning,
  type V1Job,
  type V1Pod,
} from './kube';
import { defaultIdPrefix, generatedTasks, seedTasks } from './seed';

export interface VerifyFlags {
  readonly namespace: string;
  readonly count?: string;
  readonly name?: string;
  readonly queue?: string;
  readonly kubeconfig?: string;
  readonly timeout?: string;
  readonly interval?: string;
  readonly url?: string;
  readonly urlEnv?: string;
  /** Talk to an API server whose certificate is not verified (and send it the credentials). */
  readonly allowInsecureTls?: boolean;
}

type Obj = Record<string, unknown>;

/** Label KEDA puts on the Jobs of a ScaledJob. */
const KEDA_SCALEDJOB_LABEL = 'scaledjob.keda.sh/name';
const JOB_NAME_LABELS = ['batch.kubernetes.io/job-name', 'job-name'];

/** Counter values by `status` label, summed over the series of one scrape. */
export interface CompletedCounts {
  readonly succeeded: number;
  readonly failed: number;
}

/**
 * Reads `agent_tasks_completed_total` from a Prometheus text exposition: sums the series by their
 * `status` label (series without one count as succeeded). Returns undefined when the metric is absent.
 */
export function parseCompletedCounter(text: string): CompletedCounts | undefined {
  let found = false;
  let succeeded = 0;
  let failed = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || !line.startsWith(Metrics.tasksCompleted)) {
      continue;
    }
    const rest = line.slice(Metrics.tasksCompleted.length);
    const m = /^(\{[^}]*\})?\s+(\S+)/.exec(rest);
    if (!m) {
      continue;
    }
    const value = Number(m[2]);
    if (!Number.isFinite(value)) {
      continue;
    }
    found = true;
    const status = /status="([^"]*)"/.exec(m[1] ?? '')?.[1];
    if (status === 'failed') {
      failed += value;
    } else {
      succeeded += value;
    }
  }
  return found ? { succeeded, failed } : undefined;
}

function ownedBy(
  meta: { ownerReferences?: Array<{ kind: string; name: string }> } | undefined,
  kind: string,
  names: (n: string) => boolean,
): boolean {
  return (meta?.ownerReferences ?? []).some((o) => o.kind === kind && names(o.name));
}

/** Jobs of the ScaledJob: owned by it, or carrying KEDA's label. */
export function jobsOf(jobs: readonly V1Job[], scaledJob: string): V1Job[] {
  return jobs.filter(
    (j) =>
      j.metadata?.labels?.[KEDA_SCALEDJOB_LABEL] === scaledJob ||
      ownedBy(j.metadata, 'ScaledJob', (n) => n === scaledJob),
  );
}

/** Pods of the given Jobs: controlled by one, or labelled with its name. */
export function podsOf(pods: readonly V1Pod[], jobNames: ReadonlySet<string>): V1Pod[] {
  return pods.filter(
    (p) =>
      ownedBy(p.metadata, 'Job', (n) => jobNames.has(n)) ||
      JOB_NAME_LABELS.some((l) => {
        const v = p.metadata?.labels?.[l];
        return v !== undefined && jobNames.has(v);
      }),
  );
}

/** The pod's metrics port: the container port named like the contract's, else METRICS_PORT, else the default. */
export function metricsPortOf(pod: V1Pod): number {
  for (const c of pod.spec?.containers ?? []) {
    const named = c.ports?.find((p) => p.name === Http.portName);
    if (named) {
      return named.containerPort;
    }
  }
  for (const c of pod.spec?.containers ?? []) {
    const env = c.env?.find((e) => e.name === Env.METRICS_PORT && e.value);
    if (env && Number.isInteger(Number(env.value))) {
      return Number(env.value);
    }
  }
  return Defaults.metricsPort;
}

function jobState(job: V1Job): 'succeeded' | 'failed' | 'active' {
  const conditions = job.status?.conditions ?? [];
  if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) {
    return 'failed';
  }
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) {
    return 'succeeded';
  }
  return 'active';
}

function triggerQueueName(scaledJob: Obj): string | undefined {
  const triggers = ((scaledJob.spec as Obj | undefined)?.triggers ?? []) as Obj[];
  for (const t of Array.isArray(triggers) ? triggers : []) {
    const q = (t?.metadata as Obj | undefined)?.queueName;
    if (t?.type === 'rabbitmq' && typeof q === 'string' && q !== '') {
      return q;
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Observation {
  jobsCreated: number;
  jobsActive: number;
  jobsSucceeded: number;
  jobsFailed: number;
  podsRunning: number;
  podsPending: number;
  podsSeen: number;
  succeeded: number;
  failed: number;
  ready: number | undefined;
  scrapeErrors: Map<string, string>;
}

/** `agent-fleet verify`. */
export async function runVerify(flags: VerifyFlags, io: CommandIo): Promise<number> {
  const count = parseIntFlag('--count', flags.count ?? '10', { min: 1 });
  const timeoutMs = parseDurationFlag('--timeout', flags.timeout ?? '10m') * 1000;
  const intervalMs = parseDurationFlag('--interval', flags.interval ?? '2s') * 1000;
  if (flags.namespace.trim() === '') {
    throw usageError('-n/--namespace must not be empty.');
  }
  const namespace = flags.namespace;
  const url = resolveBrokerUrl({ url: flags.url, urlEnv: flags.urlEnv }, io.env);
  io.secrets.add(...brokerSecrets(url));

  // Preflight: cluster side first, so nothing is published into a fleet that is not there.
  const k8s = await loadKubeModule();
  const kc = loadKubeConfig(k8s, flags.kubeconfig, io.env);
  io.secrets.add(...kubeconfigSecrets(kc));
  const cluster = new ClusterClient(k8s, kc, io.secrets);
  // Every request carries the user's credentials, so this comes before the first one. Refused unless
  // asked for: whoever sits between here and an unverified server gets a token for the whole cluster,
  // and a one-off check is rarely worth that.
  const insecure = unverifiedTlsWarning(kc, io.env, cluster.shownServer);
  if (insecure !== undefined) {
    writeLine(io.stderr, `agent-fleet: warning: ${io.secrets.redact(insecure)}`);
    if (flags.allowInsecureTls !== true) {
      throw usageError(
        'not contacting the API server: its TLS certificate would not be verified (see the warning above). ' +
          'Fix what it names, or pass --allow-insecure-tls to send the credentials anyway.',
      );
    }
  }
  const namespaceKnown = await cluster.checkNamespace(namespace);
  const scaledJobs = await cluster.listScaledJobs(namespace);
  const nameOf = (o: Obj) => String((o.metadata as Obj | undefined)?.name ?? '');
  if (scaledJobs.length === 0) {
    throw new CliError(
      `no ScaledJob in namespace "${namespace}": deploy the fleet's manifests first (e.g. kubectl apply -f dist/manifests/)` +
        (namespaceKnown === 'unknown'
          ? ', or check -n (reading the namespace was forbidden, so its existence is not known).'
          : '.'),
    );
  }
  let scaledJob: Obj;
  if (flags.name !== undefined) {
    const found = scaledJobs.find((s) => nameOf(s) === flags.name);
    if (!found) {
      throw new CliError(
        `no ScaledJob named "${flags.name}" in namespace "${namespace}"; found: ${scaledJobs.map(nameOf).join(', ')}.`,
      );
    }
    scaledJob = found;
  } else if (scaledJobs.length > 1) {
    throw usageError(
      `namespace "${namespace}" has ${scaledJobs.length} ScaledJobs (${scaledJobs.map(nameOf).join(', ')}); pick one with --name.`,
    );
  } else {
    scaledJob = scaledJobs[0]!;
  }
  const sjName = nameOf(scaledJob);
  const queue = flags.queue ?? triggerQueueName(scaledJob) ?? Defaults.taskQueueName;
  writeLine(
    io.stderr,
    `verify: ScaledJob ${namespace}/${sjName}, queue "${queue}", ${count} task(s), API server ${cluster.shownServer}`,
  );

  // Baseline: Jobs that exist already, and the counters of agent pods running now.
  const baselineJobs = new Set(
    jobsOf(await cluster.listJobs(namespace), sjName).map((j) => j.metadata?.name ?? ''),
  );
  const lastSeen = new Map<string, CompletedCounts>();
  const baseline = new Map<string, CompletedCounts>();
  const scrapeErrors = new Map<string, string>();
  const scrape = async (pods: readonly V1Pod[], into: Map<string, CompletedCounts>) => {
    await Promise.all(
      pods
        .filter((p) => p.status?.phase === 'Running' && p.metadata?.name)
        .map(async (p) => {
          const name = p.metadata!.name!;
          try {
            const body = await cluster.podProxyGet(namespace, name, metricsPortOf(p), Http.metricsPath);
            const counts = parseCompletedCounter(body) ?? { succeeded: 0, failed: 0 };
            into.set(name, counts);
            scrapeErrors.delete(name);
          } catch (error) {
            scrapeErrors.set(name, io.secrets.redact(String((error as Error)?.message ?? error)));
          }
        }),
    );
  };
  {
    const jobs = jobsOf(await cluster.listJobs(namespace), sjName);
    const pods = podsOf(await cluster.listPods(namespace), new Set(jobs.map((j) => j.metadata?.name ?? '')));
    await scrape(pods, baseline);
    for (const [k, v] of baseline) {
      lastSeen.set(k, v);
    }
  }

  const summary = await seedTasks(url, queue, generatedTasks(count, defaultIdPrefix('verify')), io, {
    progress: true,
    connectionName: 'agent-fleet-verify',
  });
  writeLine(
    io.stderr,
    `verify: published ${summary.published} task(s) (${summary.firstId} .. ${summary.lastId}); watching ${namespace}`,
  );

  const connection = await connectBroker(url, 'agent-fleet-verify');
  connection.on('error', () => {
    // surfaced by checkQueue
  });
  const started = Date.now();
  let observation: Observation | undefined;
  let lastLine = '';
  let done = false;
  try {
    while (true) {
      const jobs = jobsOf(await cluster.listJobs(namespace), sjName);
      const podsAll = podsOf(
        await cluster.listPods(namespace),
        new Set(jobs.map((j) => j.metadata?.name ?? '')),
      );
      await scrape(podsAll, lastSeen);
      let ready: number | undefined;
      try {
        ready = (await checkQueue(connection, queue)).messageCount;
      } catch (error) {
        throw new CliError(scrub((error as Error).message, url));
      }
      const created = jobs.filter((j) => !baselineJobs.has(j.metadata?.name ?? ''));
      let succeeded = 0;
      let failed = 0;
      for (const [pod, c] of lastSeen) {
        const b = baseline.get(pod) ?? { succeeded: 0, failed: 0 };
        succeeded += Math.max(0, c.succeeded - b.succeeded);
        failed += Math.max(0, c.failed - b.failed);
      }
      observation = {
        jobsCreated: created.length,
        jobsActive: created.filter((j) => jobState(j) === 'active').length,
        jobsSucceeded: created.filter((j) => jobState(j) === 'succeeded').length,
        jobsFailed: created.filter((j) => jobState(j) === 'failed').length,
        podsRunning: podsAll.filter((p) => p.status?.phase === 'Running').length,
        podsPending: podsAll.filter((p) => p.status?.phase === 'Pending').length,
        podsSeen: lastSeen.size,
        succeeded,
        failed,
        ready,
        scrapeErrors: new Map(scrapeErrors),
      };
      const elapsed = Math.round((Date.now() - started) / 1000);
      const line =
        `jobs ${observation.jobsCreated} new (${observation.jobsActive} active, ${observation.jobsSucceeded} complete, ${observation.jobsFailed} failed) | ` +
        `pods ${observation.podsRunning} running, ${observation.podsPending} pending | ` +
        `completed ${succeeded}/${count}${failed ? ` (+${failed} failed)` : ''} | queue ready ${ready} | ${elapsed}s`;
      if (io.stderrIsTTY) {
        io.stderr.write(`\r\x1b[2K${line}`);
      } else if (line.replace(/\| \d+s$/, '') !== lastLine.replace(/\| \d+s$/, '')) {
        writeLine(io.stderr, line);
      }
      lastLine = line;
      if ((succeeded + failed >= count && ready === 0) || observation.jobsFailed > 0) {
        done = true;
        break;
      }
      if (Date.now() - started >= timeoutMs) {
        break;
      }
      await sleep(intervalMs);
    }
  } finally {
    if (io.stderrIsTTY) {
      io.stderr.write('\n');
    }
    try {
      await connection.close();
    } catch {
      // closed already
    }
  }

  const o = observation!;
  const checks: Array<[boolean, string]> = [
    [
      summary.published === count,
      `published ${summary.published}/${count} task(s) to "${queue}" with confirms`,
    ],
    [
      o.succeeded >= count,
      `${Metrics.tasksCompleted}{status="succeeded"} rose by ${o.succeeded} across ${o.podsSeen} agent pod(s) (expected >= ${count})`,
    ],
    [o.failed === 0, `${Metrics.tasksCompleted}{status="failed"} rose by ${o.failed}`],
    [o.ready === 0, `queue "${queue}" has ${o.ready} ready message(s) left`],
    [
      o.jobsFailed === 0,
      `${o.jobsCreated} Job(s) created by ScaledJob ${sjName}: ${o.jobsSucceeded} complete, ${o.jobsActive} active, ${o.jobsFailed} failed`,
    ],
  ];
  const pass = checks.every(([ok]) => ok);
  writeLine(
    io.stdout,
    `verify ${namespace}/${sjName}: ${pass ? 'PASS' : 'FAIL'}${done ? '' : ` (timed out after ${Math.round(timeoutMs / 1000)} s)`}`,
  );
  for (const [ok, text] of checks) {
    writeLine(io.stdout, `  ${ok ? 'ok  ' : 'FAIL'} ${text}`);
  }
  for (const [pod, message] of o.scrapeErrors) {
    writeLine(
      io.stdout,
      `  note: could not read ${Http.metricsPath} of pod ${pod} through the API server proxy: ${message}`,
    );
  }
  if (!pass && o.succeeded < count && o.ready === 0 && !done) {
    writeLine(
      io.stdout,
      '  note: the queue is empty but fewer completions were counted: pods that exit right after their last task (AGENT_MAX_TASKS) may end before a scrape; lower --interval.',
    );
  }
  return pass ? CliExit.ok : CliExit.failure;
}
