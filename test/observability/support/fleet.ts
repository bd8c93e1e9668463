/**
 * A small stand-in for the cluster around real agent processes, for the real-Prometheus test: pods
 * are real `agent-worker` processes on the real broker; what Kubernetes, its Job controller, KEDA
 * and kube-state-metrics would do around them is played here, and published the way Prometheus
 * would see it (pod discovery as a file_sd file, the exporters' series as text exposition).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ExitCode, Http } from '@agent-fleet/contract';
import type * as amqp from 'amqplib';
import { AGENT_CONTAINER } from '../../../lib/internal/job-policy';
import { WORKLOAD_LABEL } from '../../../lib/workload';
import { podTargetGroup } from './scrape-config';

const WORKER_BIN = path.join(__dirname, '..', '..', '..', 'worker', 'dist', 'bin.js');

/** One agent workload of the test, as its controller and the exporters see it. */
export interface Workload {
  readonly name: string;
  readonly scaling: 'fixed' | 'queue-driven';
  readonly taskQueue: string;
  readonly resultQueue: string;
  /** The env of every pod of the workload (contract variables, handler, broker). */
  readonly env: Record<string, string>;
}

/** A pod: one `agent-worker` process. */
export class AgentPod {
  readonly uid = randomBytes(8).toString('hex');
  readonly lines: Record<string, unknown>[] = [];
  /** The end of its stderr, for failure messages. */
  stderr = '';
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' = 'Pending';
  /** kube-state-metrics' terminated reason once the container ended. */
  terminatedReason: string | undefined;
  port: number | undefined;
  /** Joined the queue (`/readyz` would answer 200): KEDA's `pendingPodConditions: [Ready]`. */
  ready = false;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;
  private oomKilled = false;

  constructor(
    readonly name: string,
    readonly workload: Workload,
    readonly job: string,
    env: Record<string, string>,
    onChange: () => void,
  ) {
    this.child = spawn(process.execPath, [WORKER_BIN], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let partial = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts.filter((p) => p.trim() !== '')) {
        const line = JSON.parse(text) as Record<string, unknown>;
        this.lines.push(line);
        if (line.msg === 'serving /metrics, /healthz and /readyz') {
          this.port = line.port as number;
          this.phase = 'Running';
          onChange();
        } else if (line.msg === 'consuming') {
          this.ready = true;
        }
      }
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-2000);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code) => {
        this.phase = code === 0 ? 'Succeeded' : 'Failed';
        this.terminatedReason = this.oomKilled ? 'OOMKilled' : code === 0 ? 'Completed' : 'Error';
        this.ready = false;
        onChange();
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return this.phase === 'Pending' || this.phase === 'Running';
  }

  logged(msg: string): boolean {
    return this.lines.some((l) => l.msg === msg || l.fixture === msg);
  }

  /** What the kernel's OOM killer does: SIGKILL, no warning. */
  oomKill(): void {
    this.oomKilled = true;
    this.child.kill('SIGKILL');
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }
}

/** A Job: one per AgentJob, one per pod of a ScaledJob (KEDA names them `<scaledjob>-<5 chars>`). */
interface Job {
  readonly name: string;
  readonly workload: Workload;
  readonly pods: AgentPod[];
}

/** Five characters as Kubernetes' generated name suffixes. */
function suffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from(randomBytes(5), (b) => alphabet[b % alphabet.length]).join('');
}

export class Fleet {
  readonly pods: AgentPod[] = [];
  private readonly jobs: Job[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private discoveryClosed = false;

  constructor(
    private readonly namespace: string,
    private readonly targetsFile: string,
    private readonly channel: amqp.Channel,
  ) {
    this.writeTargets();
  }

  /** Starts a pod of `job` (created on first use); `env` adds to the workload's. */
  startPod(workload: Workload, jobName: string, podName: string, env: Record<string, string> = {}): AgentPod {
    let job = this.jobs.find((j) => j.name === jobName);
    if (!job) {
      job = { name: jobName, workload, pods: [] };
      this.jobs.push(job);
    }
    const pod = new AgentPod(podName, workload, jobName, { ...workload.env, POD_NAME: podName, ...env }, () =>
      this.writeTargets(),
    );
    job.pods.push(pod);
    this.pods.push(pod);
    return pod;
  }

  /**
   * The Job controller of an AgentJob (Indexed, `restartPolicy: Never`, `podReplacementPolicy:
   * Failed`, `backoffLimitPerIndex` 3): keeps up to `parallelism` pods running until `completions`
   * indexes succeeded; a failed pod's index gets a new pod once the old one has ended. Resolves when
   * the Job is complete; rejects, with the pod's output, when it fails (the configuration-error exit
   * code fails the Job at once, as the podFailurePolicy does; an index failing a fourth time fails it).
   */
  runIndexedJob(workload: Workload, completions: number, parallelism: number): Promise<void> {
    const succeeded = new Set<number>();
    const runningIndexes = new Set<number>();
    const failures = new Map<number, number>();
    return new Promise((resolve, reject) => {
      const reconcile = () => {
        if (succeeded.size === completions) {
          resolve();
          return;
        }
        if (this.stopped) {
          reject(new Error(`Job ${workload.name} stopped before it completed`));
          return;
        }
        for (let index = 0; index < completions && runningIndexes.size < parallelism; index++) {
          if (succeeded.has(index) || runningIndexes.has(index)) continue;
          runningIndexes.add(index);
          const pod = this.startPod(workload, workload.name, `${workload.name}-${index}-${suffix()}`, {
            AGENT_INDEX: String(index),
          });
          void pod.exited.then((code) => {
            runningIndexes.delete(index);
            if (code === 0) {
              succeeded.add(index);
            } else {
              failures.set(index, (failures.get(index) ?? 0) + 1);
              if (code === ExitCode.configError || (failures.get(index) ?? 0) > 3) {
                reject(
                  new Error(
                    `Job ${workload.name} failed: pod ${pod.name} exited ${code}\n${pod.stderr}\n${JSON.stringify(pod.lines.slice(-5))}`,
                  ),
                );
                return;
              }
            }
            reconcile();
          });
        }
      };
      reconcile();
    });
  }

  /**
   * KEDA's ScaledJob with `scalingStrategy: accurate` and `pendingPodConditions: [Ready]`, polling
   * every `pollMs`: `min(maxReplicaCount, ceil(ready / value))` Jobs wanted, less the pending ones,
   * or `maxReplicaCount − running` when that would pass the maximum (kedacore/keda v2.16
   * `pkg/scaling/executor/scale_jobs.go`). One pod per Job.
   */
  scaleOnQueue(workload: Workload, value: number, maxReplicaCount: number, pollMs = 1000): void {
    const poll = async () => {
      const ready = (await this.channel.checkQueue(workload.taskQueue)).messageCount;
      const jobs = this.jobs.filter((j) => j.workload === workload && j.pods.some((p) => p.running));
      const pending = jobs.filter((j) => !j.pods.some((p) => p.ready)).length;
      const maxScale = Math.min(maxReplicaCount, Math.ceil(ready / value));
      const create =
        maxScale + jobs.length > maxReplicaCount ? maxReplicaCount - jobs.length : maxScale - pending;
      for (let i = 0; i < create; i++) {
        const job = `${workload.name}-${suffix()}`;
        this.startPod(workload, job, `${job}-${suffix()}`);
      }
    };
    const tick = () => {
      if (this.stopped) return;
      poll()
        .catch(() => undefined)
        .finally(() => {
          if (!this.stopped) this.timers.push(setTimeout(tick, pollMs));
        });
    };
    tick();
  }

  /** Stops the controllers: no pod is created any more. */
  stopControllers(): void {
    this.stopped = true;
    for (const t of this.timers.splice(0)) clearTimeout(t);
  }

  /** Kills every pod still running and waits for them to end; pod discovery stops. */
  async killAll(): Promise<void> {
    this.stopControllers();
    for (const pod of this.pods) pod.kill('SIGKILL');
    await Promise.all(this.pods.map((p) => p.exited));
    this.discoveryClosed = true;
  }

  /** Pod discovery: every pod with an address, in its phase (the scrape job drops ended ones). */
  private writeTargets(): void {
    if (this.discoveryClosed) return;
    const groups = this.pods
      .filter((p) => p.port !== undefined)
      .map((p) =>
        podTargetGroup({
          address: `127.0.0.1:${p.port}`,
          namespace: this.namespace,
          pod: p.name,
          phase: p.phase,
          container: AGENT_CONTAINER,
          portName: Http.portName,
          labels: { [WORKLOAD_LABEL]: p.workload.name },
        }),
      );
    const tmp = `${this.targetsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(groups));
    renameSync(tmp, this.targetsFile);
  }

  /**
   * kube-state-metrics' series for the Jobs and pods, label sets as kubernetes/kube-state-metrics
   * v2.17.0 writes them: `kube_job_status_active{namespace, job_name}` (`internal/store/job.go`,
   * Job status `active`: pods not yet ended) and
   * `kube_pod_container_status_terminated_reason{namespace, pod, uid, container, reason}`
   * (`internal/store/pod.go`, `createPodContainerStatusTerminatedReasonFamilyGenerator`: 1 while the
   * container is terminated, with its reason: `Completed` for exit 0, `Error` otherwise, `OOMKilled`).
   */
  kubeStateMetricsText(): string {
    const lines = ['# TYPE kube_job_status_active gauge'];
    for (const job of this.jobs) {
      const active = job.pods.filter((p) => p.running).length;
      lines.push(`kube_job_status_active{namespace="${this.namespace}",job_name="${job.name}"} ${active}`);
    }
    lines.push('# TYPE kube_pod_container_status_terminated_reason gauge');
    for (const pod of this.pods.filter((p) => p.terminatedReason !== undefined)) {
      lines.push(
        `kube_pod_container_status_terminated_reason{namespace="${this.namespace}",pod="${pod.name}",uid="${pod.uid}",container="${AGENT_CONTAINER}",reason="${pod.terminatedReason}"} 1`,
      );
    }
    return `${lines.join('\n')}\n`;
  }

  /**
   * The KEDA operator's `keda_scaler_metrics_value` for each ScaledJob's RabbitMQ trigger: the
   * queue's ready messages (the amqp protocol's count), labels as kedacore/keda v2.16.1 records
   * them (`pkg/metricscollector/prommetrics.go`, `getLabels`: `namespace`, `metric`, `scaledObject`,
   * `scaler`, `triggerIndex`, `type`; `pkg/scaling/scale_handler.go`: `scaler` is the trigger's name,
   * else its scaler type, here `rabbitMQScaler`; `pkg/scalers/rabbitmq_scaler.go`: metric
   * `s<index>-rabbitmq-<queue>`).
   */
  async kedaText(workloads: readonly Workload[]): Promise<string> {
    const lines = ['# TYPE keda_scaler_metrics_value gauge'];
    for (const w of workloads.filter((x) => x.scaling === 'queue-driven')) {
      const ready = (await this.channel.checkQueue(w.taskQueue)).messageCount;
      lines.push(
        `keda_scaler_metrics_value{namespace="${this.namespace}",metric="s0-rabbitmq-${w.taskQueue}",scaledObject="${w.name}",scaler="rabbitMQScaler",triggerIndex="0",type="scaledjob"} ${ready}`,
      );
    }
    return `${lines.join('\n')}\n`;
  }
}
