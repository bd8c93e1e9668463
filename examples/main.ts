/**
 * The example fleet: the tutorial's stack written with this library. `npm run synth` writes it to
 * dist/manifests/. One namespace holds the whole stack: Job, ScaledJob, TriggerAuthentication, PVC,
 * a steady pool (Deployment + ScaledObject) calling a local model server on GPU nodes (vLLM:
 * Deployment, Service, PodMonitor, PDB, NetworkPolicy, ScaledObject), guardrails (PDB, LimitRange,
 * ResourceQuota, NetworkPolicy) and observability (Services, PodMonitor, PrometheusRule, Grafana
 * dashboard), and a sharded evaluation batch without a broker, admitted through a Kueue LocalQueue
 * (ConfigMap of shard files, LocalQueue, suspended Indexed Job).
 */

import { basename, dirname, join } from 'node:path';

import {
  AgentGuardrails,
  AgentJob,
  AgentObservability,
  AgentPool,
  AgentScaledJob,
  BatchTasks,
  CheckpointStore,
  EgressPeer,
  LocalQueue,
  ModelCache,
  ModelServer,
  NamespaceQuota,
  Protocol,
  Quantity,
  QueueConnection,
  RabbitMqProtocol,
  ScaledJobTrigger,
  TriggerAuth,
  WorkloadPriorityClass,
} from '@agent-fleet/cdk8s';
import { App, Chart, type ChartProps, Duration } from 'cdk8s';
import { EnvValue, Secret } from 'cdk8s-plus-30';
import type { Construct } from 'constructs';

/** examples/, whether this file runs from its source or compiled into dist/examples/. */
const EXAMPLES_DIR =
  basename(dirname(__dirname)) === 'dist' ? join(__dirname, '..', '..', 'examples') : __dirname;

export class AgentFleetChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, { namespace: 'agents', ...props });

    // The broker URL lives in a Secret managed outside this app (e.g. External Secrets).
    const queue = QueueConnection.fromSecret(
      Secret.fromSecretName(this, 'AgentSecrets', 'agent-secrets'),
      'queue-url',
    );

    // The agent's LLM key: also a Secret created outside this app. The pods read it through a
    // secretKeyRef; the manifest holds only the Secret's name and key.
    const llmApiKey = Secret.fromSecretName(this, 'LlmApiKey', 'llm-api-key');
    const llm = {
      LLM_BASE_URL: 'https://api.openai.com/v1',
      LLM_API_KEY: EnvValue.fromSecretValue({ secret: llmApiKey, key: 'api-key' }),
    };

    // Each agent pod mostly waits on the LLM: a modest CPU request, a hard memory ceiling.
    const resources = {
      requests: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(2) },
      limits: { cpu: Quantity.cpuMillis(2000), memory: Quantity.gibibytes(4) },
    };

    const checkpoints = new CheckpointStore(this, 'Checkpoints', {
      claimName: 'agent-checkpoints',
      storageClassName: 'efs',
      size: Quantity.gibibytes(10),
    });

    const batch = new AgentJob(this, 'BatchRun', {
      name: 'agent-batch-run',
      image: 'registry.example.com/ai-agent:1.4.2',
      app: 'ai-agent',
      team: 'platform',
      env: llm,
      completions: 100,
      parallelism: 20,
      backoffLimitPerIndex: 3,
      ttlAfterFinished: Duration.hours(1),
      resources,
      queue,
      checkpointStore: checkpoints,
    });

    // A batch without a broker: twelve evaluation prompts, read from a JSON Lines file at synth time,
    // in shards of three (four Job indexes; index i runs shard i and writes one result file per
    // prompt into the checkpoint store). Kueue admits the Job through the team's LocalQueue when the
    // shared ClusterQueue has quota for two pods' requests, fair-shared with other teams' queues.
    const batchQueue = new LocalQueue(this, 'BatchQueue', {
      name: 'platform-batch',
      clusterQueue: 'agents',
    });
    const evaluation = new AgentJob(this, 'Evaluation', {
      name: 'agent-eval',
      image: 'registry.example.com/ai-agent:1.4.2',
      app: 'ai-agent',
      team: 'platform',
      env: llm,
      tasks: BatchTasks.fromJsonLinesFile(join(EXAMPLES_DIR, 'eval-prompts.jsonl')),
      tasksPerIndex: 3,
      parallelism: 2,
      ttlAfterFinished: Duration.hours(1),
      resources,
      checkpointStore: checkpoints,
      kueue: { queue: batchQueue, priorityClass: WorkloadPriorityClass.fromName('batch-low') },
    });

    // Step 2: agents scaled on queue depth. KEDA reads the queue over amqp with the agents' own
    // Secret (through a TriggerAuthentication): one Job per 5 ready messages. Each Job takes its 5
    // tasks as it joins the queue and runs them at once (AGENT_CONCURRENCY=5), then exits 0, so
    // one pod's resources serve five agents that mostly wait on the LLM.
    const workers = new AgentScaledJob(this, 'Workers', {
      name: 'agent-workers',
      image: 'registry.example.com/ai-agent:1.4.2',
      app: 'ai-agent',
      team: 'platform',
      queue,
      queueName: 'agent-tasks',
      env: llm,
      triggers: [ScaledJobTrigger.rabbitmq({ value: 5 })],
      pollingInterval: Duration.seconds(15),
      maxReplicaCount: 500,
      successfulJobsHistoryLimit: 5,
      failedJobsHistoryLimit: 10,
      resources,
      checkpointStore: checkpoints,
    });

    // Step 4: a model server of our own, on the GPU node pool and apart from the agents (vLLM in its
    // own namespace, out of reach of the agents' LimitRange and quota; one L4 per replica, 1 to 3
    // replicas on queued requests; weights cached on a ReadWriteMany claim made outside this app),
    // and a steady pool of agents calling it.
    // A pool suits a small fleet with a steady stream of tasks: agents stay warm between tasks. It
    // scales on the queue read over the management API (ready + unacknowledged): a ready-only count
    // would read 0 while every agent is busy, and the autoscaler would remove busy agents.
    const localLlm = new ModelServer(this, 'LocalLlm', {
      name: 'local-llm',
      namespace: 'llm-serving',
      model: 'Qwen/Qwen2.5-7B-Instruct',
      gpu: { count: 1, product: 'NVIDIA-L4' },
      maxModelLength: 16384,
      modelCache: ModelCache.persistentVolumeClaim('llm-model-cache'),
      autoscaling: { prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090', maxReplicaCount: 3 },
      perReplicaCapacity: { requestsPerMinute: 600, tokensPerMinute: 300_000 },
      monitorLabels: { release: 'kube-prometheus-stack' },
    });
    const reviewers = new AgentPool(this, 'Reviewers', {
      name: 'agent-reviewers',
      image: 'registry.example.com/ai-agent:1.4.2',
      app: 'ai-agent',
      team: 'platform',
      queue,
      queueName: 'review-tasks',
      modelServer: localLlm,
      triggers: [
        ScaledJobTrigger.rabbitmq({
          protocol: RabbitMqProtocol.HTTP,
          value: 2,
          // KEDA's credentials for the management API: a TriggerAuthentication kept outside this app.
          auth: TriggerAuth.existing('rabbitmq-management'),
        }),
      ],
      minReplicaCount: 2,
      maxReplicaCount: 10,
      resources,
      checkpointStore: checkpoints,
    });

    // Step 3: guardrails. The PDB is an integer minAvailable over the batch Job and a percentage over
    // the pool (a Deployment has a scale subresource; the ScaledJob gets none, with a synth-time
    // warning saying why); LimitRange and ResourceQuota bound resources but not restarts (the Jobs'
    // retry settings do); the NetworkPolicy denies everything except DNS, RabbitMQ, the LLM API, the
    // pool's model server and Prometheus scraping the metrics port.
    new AgentGuardrails(this, 'Guardrails', {
      agents: [batch, workers, reviewers, evaluation],
      maxDisruptedPercent: 10,
      // The queue-driven workers get no PodDisruptionBudget (their pod count moves with the queue);
      // evicting them is safe, so the synth-time notice about it is acknowledged.
      acknowledgeNoDisruptionBudget: [workers],
      limitRange: {
        containerDefault: { cpu: Quantity.cpus(2), memory: Quantity.gibibytes(4) },
        containerDefaultRequest: { cpu: Quantity.cpuMillis(500), memory: Quantity.gibibytes(2) },
        containerMax: { cpu: Quantity.cpus(4), memory: Quantity.gibibytes(8) },
        podMax: { cpu: Quantity.cpus(4), memory: Quantity.gibibytes(8) },
      },
      resourceQuota: NamespaceQuota.fromAgents(),
      egress: [
        EgressPeer.namespace('rabbitmq', { ports: [{ port: 5672, protocol: Protocol.TCP }] }),
        // The LLM API's published range (documentation range here; use your provider's).
        EgressPeer.ipBlock('203.0.113.0/24', { ports: [{ port: 443, protocol: Protocol.TCP }] }),
      ],
      monitoringNamespace: 'monitoring',
    });

    // Step 5: observability. A metrics Service per workload (port-forward to check an agent), a
    // PodMonitor and a PrometheusRule picked up by kube-prometheus-stack (`release` label), and a
    // dashboard ConfigMap for the Grafana sidecar. See docs/observability.md for the runbook.
    new AgentObservability(this, 'Observability', {
      name: 'agent-fleet',
      agents: [batch, workers],
      monitorLabels: { release: 'kube-prometheus-stack' },
    });
  }
}

if (require.main === module) {
  const app = new App();
  new AgentFleetChart(app, 'agent-fleet');
  app.synth();
}
